import Foundation
import Testing
import TestSupport

/// Help reads well in an 80-column terminal: no command's description or example is broken mid-line there.
@Suite struct HelpLayoutTests {
    static let binary = TestSupport.distilleryBinary

    func help(_ command: [String], columns: Int) throws -> String {
        let run = try TestSupport.run(HelpLayoutTests.binary, command + ["--help"], environment: ["COLUMNS": "\(columns)"], timeout: 60)
        #expect(run.status == 0, "\(command) --help exited \(run.status)")
        return run.stdout
    }

    /// The names under SUBCOMMANDS in a help text.
    static func subcommands(_ help: String) -> [String] {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { return [] }
        return lines[(start + 1)...].compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return name == "See" ? nil : String(name)
        }
    }

    /// The description between the overview and the usage line (ArgumentParser wraps each of its lines that does
    /// not fit; the overview sentence itself it wraps properly).
    static func description(_ help: String) -> String {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let usage = lines.firstIndex(where: { $0.hasPrefix("USAGE:") }),
              let blank = lines[..<usage].firstIndex(of: "") else { return "" }
        return lines[blank..<usage].joined(separator: "\n")
    }

    @Test func everyCommandsHelpFitsEightyColumns() throws {
        let top = try help([], columns: 80)
        var commands: [[String]] = [[]]
        for name in HelpLayoutTests.subcommands(top) where name != "help" {
            commands.append([name])
            commands += HelpLayoutTests.subcommands(try help([name], columns: 80)).filter { $0 != "help" }.map { [name, $0] }
        }
        #expect(commands.count > 16, "found only \(commands) in distillery --help")
        for command in commands {
            let narrow = try help(command, columns: 80), wide = try help(command, columns: 300)
            // Identical at 80 and 300 columns: nothing in it was wrapped, so every example is whole on its lines.
            #expect(HelpLayoutTests.description(narrow) == HelpLayoutTests.description(wide),
                    "distillery \(command.joined(separator: " ")) --help breaks its description at 80 columns:\n\(HelpLayoutTests.description(narrow))")
            for line in narrow.split(separator: "\n") where !line.hasPrefix("USAGE:") && line.count > 80 {
                Issue.record("distillery \(command.joined(separator: " ")) --help: \(line.count) columns: \(line)")
            }
        }
    }
}
