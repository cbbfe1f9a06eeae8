import Foundation
import SafeTensors
import Testing
import TestSupport

/// prune, quantize, eval, inspect and bench infer on a small synthetic data set, through the real binary.
@Suite(.serialized) struct CompressionCLITests {
    let cli = CLITests()

    /// A dense MLP trained on the blobs, and the data's path; nil when numpy is absent.
    func trainedModel(in dir: URL) throws -> (model: String, data: String)? {
        guard let data = try cli.makeBlobs(in: dir) else { return nil }
        let model = dir.appendingPathComponent("dense.safetensors").path
        let train = try cli.distillery(["train", "--model", "mlp:16-64-32-3", "--data", "npz:\(data)", "--epochs", "6", "--batch-size", "32",
                                        "--lr", "0.01", "--normalize", "auto", "--seed", "4", "--out", model])
        #expect(train.status == 0, "\(train.stderr)")
        return (model, "npz:\(data)")
    }

    @Test(arguments: ["magnitude", "global-magnitude", "obd", "synflow", "random", "lottery", "structured"])
    func everyMethodPrunesToTheSparsityAndShrinksTheFile(method: String) throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let (model, data) = try trainedModel(in: dir) else { return }
        let out = dir.appendingPathComponent("\(method).safetensors").path
        // Structured pruning removes whole neurons of a small MLP: half of them, which is two thirds of its parameters.
        let target = method == "structured" ? 0.5 : 0.8
        let result = try cli.distillery(["prune", "--model", model, "--method", method, "--sparsity", "\(target)", "--data", data,
                                         "--finetune-epochs", "3", "--rounds", "2", "--sample", "64", "--out", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try cli.json(result.stdout)
        // Structured pruning reports the fraction of all parameters it removed (the classifier stays whole).
        let sparsity = summary["sparsity"] as? Double ?? 0
        #expect(method == "structured" ? sparsity > 0.6 : abs(sparsity - target) < 0.01, "\(summary)")
        #expect((summary["final_accuracy"] as? Double ?? 0) > 0.85, "\(summary)")
        #expect((summary["bytes_out"] as? Int ?? .max) * 2 < (summary["bytes_in"] as? Int ?? 0), "\(summary)")
        let eval = try cli.json(try cli.distillery(["eval", "--model", out, "--data", data, "--json"]).stdout)
        #expect(eval["accuracy"] as? Double == summary["final_accuracy"] as? Double)
        #expect(eval["format"] as? String == (method == "structured" ? "f32 dense" : "f32 bitmask"))
    }

    @Test func quantizedStudentsRunInInt8AndReportThemselves() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let (model, data) = try trainedModel(in: dir) else { return }
        let pruned = dir.appendingPathComponent("pruned.safetensors").path, int8 = dir.appendingPathComponent("int8.safetensors").path
        #expect(try cli.distillery(["prune", "--model", model, "--method", "global-magnitude", "--sparsity", "0.7", "--data", data,
                                    "--finetune-epochs", "2", "--out", pruned]).status == 0)
        let result = try cli.distillery(["quantize", "--model", pruned, "--mode", "ptq", "--per-channel", "--calibration", "mse",
                                         "--data", data, "--out", int8, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try cli.json(result.stdout)
        let floatAccuracy = try #require(summary["float_accuracy"] as? Double), int8Accuracy = try #require(summary["int8_accuracy"] as? Double)
        #expect(abs(floatAccuracy - int8Accuracy) < 0.03, "\(summary)")
        let eval = try cli.json(try cli.distillery(["eval", "--model", int8, "--data", data, "--json"]).stdout)
        #expect(eval["accuracy"] as? Double == int8Accuracy)
        #expect(eval["format"] as? String == "int8-per-channel bitmask")
        let inspect = try cli.json(try cli.distillery(["inspect", int8, "--json"]).stdout)
        let weights = try #require(inspect["weights"] as? [[String: Any]])
        #expect(weights.count == 3 && weights.allSatisfy { $0["format"] as? String == "int8 bitmask" }, "\(weights)")
        let bench = try cli.distillery(["bench", "infer", "--model", model, "--model", int8, "--batch-size", "8", "--repeats", "2",
                                        "--seconds", "0.05", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2 && rows.allSatisfy { ($0["samples_per_second"] as? Double ?? 0) > 0 })
        #expect(rows[1]["ratio_to_first"] is Double)
        let qat = try cli.distillery(["quantize", "--model", pruned, "--mode", "qat", "--epochs", "1", "--data", data, "--out", int8, "--json"])
        #expect(qat.status == 0, "\(qat.stderr)")
        let qatSummary = try cli.json(qat.stdout)
        #expect((qatSummary["int8_accuracy"] as? Double ?? 0) > floatAccuracy - 0.03, "\(qatSummary)")
        #expect(try cli.json(try cli.distillery(["inspect", int8, "--json"]).stdout)["metadata"].flatMap { ($0 as? [String: String])?["distillery.quantization"] }?.hasPrefix("qat") == true)
        let again = try cli.distillery(["prune", "--model", int8, "--method", "magnitude", "--sparsity", "0.5", "--data", data, "--out", pruned])
        #expect(again.status != 0 && again.stderr.contains("quantized"), "\(again.stderr)")
    }

    @Test func badCompressionInputIsAClearError() throws {
        let dir = try TestSupport.temporaryDirectory()
        let sparsity = try cli.distillery(["prune", "--model", "x", "--method", "magnitude", "--sparsity", "1.5", "--out", "y"])
        #expect(sparsity.status == 64 && sparsity.stderr.contains("--sparsity") && sparsity.stderr.contains("Usage:"))
        let method = try cli.distillery(["prune", "--model", "x", "--method", "biggest", "--sparsity", "0.5", "--out", "y"])
        #expect(method.status != 0 && method.stderr.contains("global-magnitude"))
        let broken = dir.appendingPathComponent("broken.safetensors")
        try Data("not a safetensors file".utf8).write(to: broken)
        let result = try cli.distillery(["quantize", "--model", broken.path, "--data", "npz:/nonexistent.npz", "--out", "y"])
        #expect(result.status != 0 && result.stderr.contains("broken.safetensors"), "\(result.stderr)")
    }
}
