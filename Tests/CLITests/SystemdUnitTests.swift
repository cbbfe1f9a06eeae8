import Foundation
import Testing
import TestSupport

/// ops/systemd's units: systemd itself finds nothing to complain about, and every option they pass is one the
/// daemon they start knows (the units cannot drift from the CLI unnoticed).
@Suite struct SystemdUnitTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ops/systemd")
    static let units = ["distillery-coordinator.service", "distillery-teacher@.service", "distillery-student@.service"]

    func text(_ unit: String) throws -> String {
        try String(contentsOf: Self.directory.appendingPathComponent(unit), encoding: .utf8)
    }

    @Test(arguments: units) func optionsAreTheDaemonsOwn(unit: String) throws {
        let body = try text(unit)
        let exec = try #require(body.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(words[0] == "/usr/local/bin/distillery")
        let command = words[1]
        #expect(["coordinator", "teacher", "student"].contains(command))
        let help = try TestSupport.run(TestSupport.distilleryBinary, [command, "--help"]).stdout
        for option in words.filter({ $0.hasPrefix("--") }) { #expect(help.contains(option + " "), "\(unit): \(option) is not an option of \(command)") }
        // Every variable it reads is in the example environment file.
        let example = try text("distillery.env.example")
        let variables = words.compactMap { w -> String? in
            guard w.hasPrefix("$") else { return nil }
            return w.trimmingCharacters(in: CharacterSet(charactersIn: "${}"))
        }
        for v in variables { #expect(example.contains("\n\(v)="), "\(unit) reads \(v), which distillery.env.example does not set") }
        // Options the example passes through *_ARGS variables are the daemon's too.
        for line in example.split(separator: "\n") where variables.contains(where: { v in v.hasSuffix("_ARGS") && line.hasPrefix("\(v)=") }) {
            for option in line.split(separator: "=", maxSplits: 1)[1].split(separator: " ") where option.hasPrefix("--") {
                #expect(help.contains(option + " "), "\(unit): \(line) passes \(option), which \(command) does not know")
            }
        }
        for key in ["EnvironmentFile=/etc/distillery/distillery.env", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict"] {
            #expect(body.contains(key), "\(unit) lacks \(key)")
        }
    }

    @Test func systemdVerifiesTheUnits() throws {
        guard let analyze = TestSupport.which("systemd-analyze") else {
            if TestSupport.requirePeers { throw TestSupportError("systemd-analyze is required (DISTILLERY_REQUIRE_PEERS=1)") }
            return
        }
        let dir = try TestSupport.temporaryDirectory("units")
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        for unit in Self.units {
            // The binary under test stands in for the installed one; templates get an instance.
            let body = try text(unit).replacingOccurrences(of: "/usr/local/bin/distillery", with: TestSupport.distilleryBinary)
            let path = dir.appendingPathComponent(unit.replacingOccurrences(of: "@.", with: "@test.")).path
            try body.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let result = try TestSupport.run(analyze, ["verify", "--man=no"] + paths)
        #expect(result.status == 0 && result.stderr.isEmpty && result.stdout.isEmpty, "\(result.stdout)\(result.stderr)")
    }
}
