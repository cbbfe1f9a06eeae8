import Foundation
import SafeTensors
import Testing
import TestSupport

/// Runs the real `distillery` binary as a user types it.
@Suite(.serialized) struct CLITests {
    static let binary = TestSupport.distilleryBinary

    func distillery(_ args: [String], timeout: TimeInterval = 300) throws -> ProcessResult {
        try TestSupport.run(CLITests.binary, args, environment: ["DISTILLERY_THREADS": "2"], timeout: timeout)
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
    }

    @Test func helpDescribesEveryCommand() throws {
        let top = try distillery(["--help"])
        #expect(top.status == 0)
        for command in ["train", "distill", "eval", "inspect", "keygen", "bench", "prune", "quantize", "report"] { #expect(top.stdout.contains(command)) }
        let train = try distillery(["train", "--help"])
        for option in ["--model", "--data", "--epochs", "--batch-size", "--optimizer", "--lr", "--seed", "--out", "--threads"] {
            #expect(train.stdout.contains(option), "train --help lacks \(option)")
        }
    }

    /// Three separable clusters in 4x4 "images", as an npz written by numpy; nil when numpy is optional and absent.
    func makeBlobs(in dir: URL) throws -> String? {
        let data = dir.appendingPathComponent("blobs.npz").path
        let made = try TestSupport.python("""
        import numpy as np
        rng = np.random.default_rng(1)
        def make(n):
            y = np.arange(n) % 3
            x = rng.normal(0, 0.5, (n, 4, 4)).astype(np.float32)
            x[np.arange(n), y, :] += 1.5
            return x, y.astype(np.int64)
        xt, yt = make(600); xv, yv = make(150)
        np.savez("\(data)", x_train=xt, y_train=yt, x_test=xv, y_test=yv)
        """, needs: ["numpy"])
        guard let made else { return nil }
        #expect(made.status == 0, "\(made.stderr)")
        return data
    }

    /// Train on a synthetic npz data set, evaluate and inspect the checkpoint, all through the CLI.
    @Test func trainEvalInspectRoundTrip() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let data = try makeBlobs(in: dir) else { return }
        let model = dir.appendingPathComponent("m.safetensors").path
        let train = try distillery(["train", "--model", "mlp:16-32-3", "--data", "npz:\(data)", "--epochs", "5",
                                    "--batch-size", "32", "--optimizer", "sgd", "--lr", "0.05", "--normalize", "auto",
                                    "--seed", "3", "--out", model])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("epoch 5/5"))
        let eval = try json(try distillery(["eval", "--model", model, "--data", "npz:\(data)", "--json"]).stdout)
        let accuracy = try #require(eval["accuracy"] as? Double)
        #expect(accuracy > 0.9)
        #expect(eval["loss"] is Double)
        #expect(eval["samples"] as? Int == 150)
        let table = try distillery(["eval", "--model", model, "--model", model, "--data", "npz:\(data)"])
        #expect(table.stdout.contains("| m.safetensors") && table.stdout.contains("test accuracy"), "\(table.stdout)")
        let inspect = try json(try distillery(["inspect", model, "--json"]).stdout)
        #expect(inspect["parameters"] as? Int == 16 * 32 + 32 + 32 * 3 + 3)
        #expect(inspect["spec"] as? String == "mlp:16-32-3")
        let metadata = try #require(inspect["metadata"] as? [String: String])
        #expect(metadata["distillery.normalize"] != nil && metadata["distillery.seed"] == "3")
        #expect((inspect["bytes_on_disk"] as? Int ?? 0) > (16 * 32 + 32 * 3) * 4)
    }

    /// A teacher trained by `train` teaches a smaller student through `distill`, labels weighted at zero.
    @Test func distillFromATrainedTeacher() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let data = try makeBlobs(in: dir) else { return }
        let teacher = dir.appendingPathComponent("teacher.safetensors").path
        let student = dir.appendingPathComponent("student.safetensors").path
        let trained = try distillery(["train", "--model", "mlp:16-32-3", "--data", "npz:\(data)", "--epochs", "5", "--batch-size", "32",
                                      "--lr", "0.01", "--normalize", "auto", "--seed", "1", "--out", teacher])
        #expect(trained.status == 0, "\(trained.stderr)")
        let result = try distillery(["distill", "--teacher", teacher, "--teacher", teacher, "--student", "mlp:16-4-3",
                                     "--data", "npz:\(data)", "--temperature", "3", "--alpha", "1", "--epochs", "6",
                                     "--batch-size", "16", "--lr", "0.01", "--seed", "2", "--out", student, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try json(result.stdout)
        #expect((summary["test_accuracy"] as? Double ?? 0) > 0.9, "\(summary)")
        let metadata = try #require(try json(try distillery(["inspect", student, "--json"]).stdout)["metadata"] as? [String: String])
        #expect(metadata["distillery.alpha"] == "1.0" && metadata["distillery.temperature"] == "3.0")
        #expect(metadata["distillery.normalize"] != nil)
        let refused = try distillery(["distill", "--teacher", teacher, "--student", "mlp:16-4-3", "--alpha", "2", "--out", student])
        #expect(refused.status != 0 && refused.stderr.contains("--alpha"))
    }

    @Test func keygenWritesAPrivateKeypairAndRefusesToOverwrite() throws {
        let dir = try TestSupport.temporaryDirectory().appendingPathComponent("keys")
        let first = try distillery(["keygen", "--out", dir.path, "--name", "coordinator"])
        #expect(first.status == 0, "\(first.stderr)")
        let secret = dir.appendingPathComponent("coordinator.secret").path
        let publicKey = try String(contentsOf: dir.appendingPathComponent("coordinator.key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.count == 40 && first.stdout.contains(publicKey))
        #expect(try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int == 0o600)
        let secretText = try String(contentsOfFile: secret, encoding: .utf8)
        #expect(secretText.hasPrefix("public \(publicKey)\nsecret "))
        let again = try distillery(["keygen", "--out", dir.path, "--name", "coordinator"])
        #expect(again.status != 0 && again.stderr.contains("--force"))
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == secretText)
        #expect(try distillery(["keygen", "--out", dir.path, "--name", "coordinator", "--force"]).status == 0)
        // A whole set, then one more worker key: each listed in the allow file in its role.
        let set = try TestSupport.temporaryDirectory().appendingPathComponent("set")
        #expect(try distillery(["keygen", "--out", set.path, "--teachers", "2", "--students", "1"]).status == 0)
        #expect(try distillery(["keygen", "--out", set.path, "--name", "gpu-box", "--role", "teacher", "--members", "bert,gpt"]).status == 0)
        let allow = try String(contentsOf: set.appendingPathComponent("allow"), encoding: .utf8)
        let lines = allow.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
        #expect(lines == ["teacher-1 teacher *", "teacher-2 teacher *", "student-1 student", "operator operator", "gpu-box teacher bert,gpt"], "\(allow)")
        for name in ["coordinator", "teacher-1", "teacher-2", "student-1", "operator", "gpu-box"] {
            #expect(FileManager.default.fileExists(atPath: set.appendingPathComponent("\(name).secret").path), "\(name).secret")
        }
        #expect(try distillery(["keygen", "--out", set.path, "--name", "x", "--role", "coordinator"]).status != 0)
        #expect(try distillery(["keygen", "--out", set.path, "--name", "bad\u{1B}name", "--role", "student"]).status != 0)
    }

    @Test func badInputFailsWithAClearMessage() throws {
        let dir = try TestSupport.temporaryDirectory()
        let corrupt = dir.appendingPathComponent("corrupt.safetensors")
        try Data([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).write(to: corrupt)
        let cases: [([String], String)] = [
            (["eval", "--model", corrupt.path], corrupt.path),
            (["inspect", dir.appendingPathComponent("absent.safetensors").path], "absent.safetensors"),
            (["train", "--model", "mlp:784-x", "--out", "x.safetensors"], "mlp:784-x"),
            (["train", "--model", "mlp:10-3", "--data", "idx:\(dir.path)/", "--out", "x.safetensors"], "train-images-idx3-ubyte"),
            (["train", "--model", "mlp:10-3", "--data", "cifar", "--out", "x.safetensors"], "unknown data set"),
            (["train", "--model", "mlp:10-3", "--optimizer", "rmsprop", "--out", "x.safetensors"], "sgd or adam"),
            (["bench", "train", "--model", "mlp:10-3", "--batch-size", "0"], "--batch-size"),
        ]
        for (args, needle) in cases {
            let result = try distillery(args)
            #expect(result.status != 0, "\(args) succeeded")
            #expect(result.stderr.contains(needle), "\(args): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(args) trapped: \(result.stderr)")
        }
    }

    @Test func modelAndDataMustAgree() throws {
        guard try TestSupport.fashionMNIST() != nil else { return }
        let result = try distillery(["train", "--model", "mlp:100-3", "--limit", "100", "--out", "/tmp/never.safetensors"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("takes inputs [100]"), "\(result.stderr)")
        // A failure of the work, not of the command line: no usage text, not ArgumentParser's exit code 64.
        #expect(!result.stderr.contains("Usage:"), "\(result.stderr)")
    }

    @Test func benchTrainReportsSamplesPerSecond() throws {
        let result = try distillery(["bench", "train", "--model", "mlp:784-64-10", "--batch-size", "32", "--steps", "3",
                                     "--repeats", "2", "--warmup", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rate = try #require(try json(result.stdout)["samples_per_second"] as? Double)
        #expect(rate > 0)
    }

    /// SIGTERM stops training at the next step and still saves a loadable checkpoint.
    @Test func sigtermStopsTrainingAndSaves() throws {
        guard try TestSupport.fashionMNIST() != nil else { return }
        let dir = try TestSupport.temporaryDirectory()
        let out = dir.appendingPathComponent("partial.safetensors")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLITests.binary)
        process.arguments = ["train", "--model", "mlp:784-256-10", "--epochs", "1000", "--out", out.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 4)
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 130)
        let file = try SafeTensorsFile.read(out)
        #expect(file.metadata["distillery.spec"] == "mlp:784-256-10")
    }
}
