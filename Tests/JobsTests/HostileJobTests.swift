import Foundation
import Testing
import TestSupport
@testable import Jobs

/// Job files that once got past the checks (the fault campaign): each is refused before any work starts, naming the
/// file, the line and the value, and quickly.
@Suite struct HostileJobTests {
    func refusal(_ text: String, file: String = "job.yaml", baseDirectory: String = ".") -> JobError? {
        do {
            _ = try JobSpec.parse(text, file: file, baseDirectory: baseDirectory)
            return nil
        } catch let error as JobError {
            return error
        } catch {
            Issue.record("not a JobError: \(error)")
            return nil
        }
    }

    func line(_ text: String, of fragment: String) -> Int {
        text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(fragment) }! + 1
    }

    @Test func namesMustBeSafeInPathsAndLogs() throws {
        for bad in ["\"\"", "\"../../etc\"", "\"a\\nb\"", "\".hidden\"", "\"x y\"", String(repeating: "n", count: 65)] {
            let text = JobSpecTests.minimal.replacingOccurrences(of: "name: tiny", with: "name: \(bad)")
            let error = try #require(refusal(text), "accepted the name \(bad)")
            #expect(error.line == 1 && error.message.contains("is not a job name"), "\(error)")
            #expect(!error.description.contains("\n"), "the message carries the newline raw: \(error)")
        }
        #expect(refusal(JobSpecTests.minimal.replacingOccurrences(of: "name: tiny", with: "name: fashion-quick_2.b")) == nil)
    }

    @Test func aTeacherCheckpointThatIsADirectoryAndAnOutputThatIsAFile() throws {
        let dir = try TestSupport.temporaryDirectory("hostile-job")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("t.safetensors"), withIntermediateDirectories: true)
        let error = try #require(refusal(JobSpecTests.minimal, baseDirectory: dir.path))
        #expect(error.line == line(JobSpecTests.minimal, of: "checkpoint:") && error.message.contains("is a directory"), "\(error)")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("t.safetensors"))
        try Data("x".utf8).write(to: dir.appendingPathComponent("out"))
        let text = JobSpecTests.minimal + "\noutput: {dir: out}"
        let output = try #require(refusal(text, baseDirectory: dir.path))
        #expect(output.line == line(text, of: "output:") && output.message.contains("is a file, not a directory"), "\(output)")
    }

    @Test func aModelLargerThanTheMachineIsRefusedBeforeItIsBuilt() throws {
        let text = JobSpecTests.minimal.replacingOccurrences(of: "model: mlp:784-32-10", with: "model: mlp:784-1000000000-10")
        let error = try #require(refusal(text))
        #expect(error.line == line(text, of: "mlp:784-1000000000-10") && error.message.contains("more than this machine's"), "\(error)")
        let teacher = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors",
                                                                with: "checkpoint: t.safetensors\n    train: {model: \"cnn:1x28x28:c1000000-10\"}")
        #expect(refusal(teacher)?.message.contains("more than this machine's") == true)
    }

    @Test func aliasBombsAreRefusedAtOnce() throws {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        let asKey = lines.joined(separator: "\n") + "\n? *a8\n: boom\n" + JobSpecTests.minimal
        let started = Date()
        let keyError = try #require(refusal(asKey))
        #expect(keyError.line == 10 && keyError.message.contains("alias (*a8) used as a mapping key"), "\(keyError)")
        let asValue = lines.joined(separator: "\n") + "\nextra: *a8\n" + JobSpecTests.minimal
        #expect(refusal(asValue)?.message.contains("expands to more than") == true)
        #expect(throws: JobError.self) { try JobOverrides.apply(["seed=2"], to: lines.joined(separator: "\n") + "\nteachers: *a8\n", file: "job.yaml") }
        #expect(throws: JobError.self) { try JobOverrides.apply(["seed={\(lines.joined(separator: ", "))}"], to: JobSpecTests.minimal, file: "job.yaml") }
        #expect(Date().timeIntervalSince(started) < 2, "refusing the bombs took \(Date().timeIntervalSince(started)) s")
        // Anchors and aliases that stay small are still YAML a job may use.
        let shared = JobSpecTests.minimal.replacingOccurrences(of: "distillation:\n  temperature: 2", with: "distillation: &d\n  temperature: 2") + "\nx_copy: *d"
        #expect(refusal(shared)?.message.contains("unknown key 'x_copy'") == true)
    }
}
