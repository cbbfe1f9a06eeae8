import Foundation
import NeuralNet
import Testing
import TestSupport

/// A ResNet teacher and a MobileNetV2-style student through the real binary on a slice of Fashion-MNIST: train,
/// inspect (the tree), distill, prune (unstructured and structured), quantize, eval, export to ONNX (fp32 and int8
/// QDQ).
@Suite(.serialized) struct FamilyCLITests {
    let cli = CLITests()

    @Test func aResNetTeachesAMobileNetThatIsPrunedAndExported() throws {
        guard let fashion = try TestSupport.fashionMNIST() else { return }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let data = ["--data", "idx:\(fashion)", "--limit", "1024", "--test-limit", "300"]
        let train = try cli.distillery(["train", "--model", "resnet:1x28x28:depth=8,width=4", "--epochs", "2", "--lr", "0.01",
                                        "--batch-size", "32", "--normalize", "auto", "--out", path("teacher.safetensors")] + data)
        try #require(train.status == 0, "\(train.stderr)")

        let inspect = try cli.json(try cli.distillery(["inspect", path("teacher.safetensors"), "--json"]).stdout)
        let layers = inspect["layers"] as? [String] ?? []
        #expect(layers.contains("layer2: ResNet stage") && layers.contains("  0: BasicBlock (stride 2)")
                && layers.contains("      0: Conv2d(4 -> 8, k=1, stride=2, pad=0)"), "\(layers)")
        #expect((inspect["metadata"] as? [String: String])?["distillery.format"] == "3")

        let student = "mobilenetv2:1x28x28:width=4,expansion=3,blocks=1"
        let distill = try cli.distillery(["distill", "--teacher", path("teacher.safetensors"), "--student", student, "--epochs", "2",
                                          "--lr", "0.003", "--out", path("student.safetensors"), "--json"] + data)
        try #require(distill.status == 0, "\(distill.stderr)")

        let prune = try cli.distillery(["prune", "--model", path("student.safetensors"), "--method", "global-magnitude", "--sparsity", "0.5",
                                        "--finetune-epochs", "1", "--out", path("pruned.safetensors"), "--json"] + data)
        try #require(prune.status == 0, "\(prune.stderr)")
        let summary = try cli.json(prune.stdout)
        // Depthwise, expansion and projection weights inside the blocks are all pruned.
        let tensors = try cli.json(try cli.distillery(["inspect", path("pruned.safetensors"), "--json"]).stdout)["weights"] as? [[String: Any]] ?? []
        let sparse = tensors.filter { ($0["sparsity"] as? Double ?? 0) > 0.2 }.compactMap { $0["name"] as? String }
        #expect(sparse.contains("blocks.1.depthwise.0.weight") && sparse.contains("blocks.2.expand.0.weight")
                && sparse.contains("classifier.weight"), "\(sparse)")
        let eval = try cli.json(try cli.distillery(["eval", "--model", path("pruned.safetensors"), "--json"] + data).stdout)
        #expect(eval["accuracy"] as? Double == summary["final_accuracy"] as? Double, "\(eval) \(summary)")

        let export = try cli.distillery(["export", "--model", path("student.safetensors"), "--onnx", path("student.onnx")])
        try #require(export.status == 0, "\(export.stderr)")
        let ours = try cli.json(try cli.distillery(["eval", "--model", path("student.safetensors"), "--json"] + data).stdout)
        let theirs = try cli.json(try cli.distillery(["eval", "--model", path("student.onnx"), "--json"] + data).stdout)
        #expect(ours["accuracy"] as? Double == theirs["accuracy"] as? Double, "\(ours) \(theirs)")

        // Structured pruning removes channels (those an add ties, together) and rebuilds the smaller tree.
        let structured = try cli.distillery(["prune", "--model", path("student.safetensors"), "--method", "structured", "--sparsity", "0.5",
                                             "--finetune-epochs", "1", "--out", path("structured.safetensors"), "--json"] + data)
        try #require(structured.status == 0, "\(structured.stderr)")
        let smaller = try cli.json(structured.stdout)
        #expect((smaller["sparsity"] as? Double ?? 0) > 0.5, "\(smaller)")
        let reread = try cli.json(try cli.distillery(["eval", "--model", path("structured.safetensors"), "--json"] + data).stdout)
        #expect(reread["accuracy"] as? Double == smaller["final_accuracy"] as? Double, "\(reread) \(smaller)")

        // The ResNet teacher (it has learned something; the two-epoch student has not) to int8 after training:
        // evaluated on the int8 tree runtime, exported as QDQ.
        let quantize = try cli.distillery(["quantize", "--model", path("teacher.safetensors"), "--out", path("int8.safetensors"), "--json"] + data)
        try #require(quantize.status == 0, "\(quantize.stderr)")
        let int8 = try cli.json(quantize.stdout)
        let floatAccuracy = int8["float_accuracy"] as? Double ?? 0, int8Accuracy = int8["int8_accuracy"] as? Double ?? 0
        #expect(floatAccuracy > 0.3 && abs(floatAccuracy - int8Accuracy) < 0.03, "\(quantize.stdout)")
        let evalInt8 = try cli.json(try cli.distillery(["eval", "--model", path("int8.safetensors"), "--json"] + data).stdout)
        #expect(evalInt8["accuracy"] as? Double == int8Accuracy, "\(evalInt8) \(int8)")
        let qdq = try cli.distillery(["export", "--model", path("int8.safetensors"), "--onnx", path("int8.onnx")])
        try #require(qdq.status == 0, "\(qdq.stderr)")
        let graph = try cli.distillery(["inspect", path("int8.onnx")])
        #expect(graph.stdout.contains("QuantizeLinear") && graph.stdout.contains("Add"), "\(graph.stdout)")
        // The QDQ graph means what the int8 runtime computes: our ONNX runner scores it alike.
        let evalQDQ = try cli.json(try cli.distillery(["eval", "--model", path("int8.onnx"), "--json"] + data).stdout)
        #expect(abs((evalQDQ["accuracy"] as? Double ?? 0) - int8Accuracy) <= 0.01, "\(evalQDQ) \(int8)")

        // Quantization-aware fine-tuning inside the blocks too.
        let qat = try cli.distillery(["quantize", "--model", path("teacher.safetensors"), "--mode", "qat", "--epochs", "1",
                                      "--out", path("qat.safetensors"), "--json"] + data)
        try #require(qat.status == 0, "\(qat.stderr)")
        let qatAccuracy = try cli.json(qat.stdout)["int8_accuracy"] as? Double ?? 0
        #expect(qatAccuracy > 0.3 && qatAccuracy > int8Accuracy - 0.05, "\(qat.stdout)")
    }

    /// A GPT on the shakespeare plays through the binary: trained, evaluated in bits per byte, distilled into a
    /// smaller one, pruned, quantized to int8 (attention and MLP Linears), exported as QDQ ONNX, and generating.
    @Test func aGPTTrainsDistilsPrunesAndQuantizesOnShakespeare() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let data = ["--data", "shakespeare", "--limit", "1500", "--test-limit", "200"]
        let train = try cli.distillery(["train", "--model", "gpt:vocab=256,ctx=32,layers=2,heads=2,d=32", "--epochs", "2", "--lr", "0.003",
                                        "--batch-size", "32", "--out", path("teacher.safetensors"), "--json"] + data)
        try #require(train.status == 0, "\(train.stderr)")
        let eval = try cli.json(try cli.distillery(["eval", "--model", path("teacher.safetensors"), "--json"] + data).stdout)
        let bits = eval["bits_per_byte"] as? Double ?? 0, loss = eval["loss"] as? Double ?? 0
        // Better than a uniform guess over 256 bytes (8 bits), and the loss in nats is bits * ln 2.
        #expect(bits > 1 && bits < 5 && abs(bits * log(2) - loss) < 1e-9, "\(eval)")

        let distill = try cli.distillery(["distill", "--teacher", path("teacher.safetensors"), "--student", "gpt:vocab=256,ctx=32,layers=1,heads=2,d=16",
                                          "--epochs", "1", "--lr", "0.003", "--batch-size", "32", "--temperature", "1",
                                          "--out", path("student.safetensors"), "--json"] + data)
        try #require(distill.status == 0, "\(distill.stderr)")
        #expect((try cli.json(distill.stdout)["test_accuracy"] as? Double ?? 0) > 0.1, "\(distill.stdout)")

        let prune = try cli.distillery(["prune", "--model", path("teacher.safetensors"), "--method", "global-magnitude", "--sparsity", "0.5",
                                        "--finetune-epochs", "1", "--out", path("pruned.safetensors"), "--json"] + data)
        try #require(prune.status == 0, "\(prune.stderr)")
        let tensors = try cli.json(try cli.distillery(["inspect", path("pruned.safetensors"), "--json"]).stdout)["weights"] as? [[String: Any]] ?? []
        let sparse = tensors.filter { ($0["sparsity"] as? Double ?? 0) > 0.1 }.compactMap { $0["name"] as? String }
        #expect(sparse.contains("layers.0.attn.qkv.weight") && sparse.contains("layers.1.mlp.fc.weight"), "\(sparse)")
        // Optimal Brain Damage samples a label at every position; SynFlow, which needs an all-ones input, says why not.
        let obd = try cli.distillery(["prune", "--model", path("teacher.safetensors"), "--method", "obd", "--sparsity", "0.5",
                                      "--finetune-epochs", "1", "--out", path("obd.safetensors"), "--json"] + data)
        try #require(obd.status == 0, "\(obd.stderr)")
        #expect((try cli.json(obd.stdout)["final_accuracy"] as? Double ?? 0) > 0.1, "\(obd.stdout)")
        // Structured: MLP hidden units go, the smaller GPT is stored with its tree and evaluates as reported.
        let structured = try cli.distillery(["prune", "--model", path("teacher.safetensors"), "--method", "structured", "--sparsity", "0.5",
                                             "--finetune-epochs", "1", "--out", path("structured.safetensors"), "--json"] + data)
        try #require(structured.status == 0, "\(structured.stderr)")
        let smaller = try cli.json(structured.stdout)
        let reread = try cli.json(try cli.distillery(["eval", "--model", path("structured.safetensors"), "--json"] + data).stdout)
        #expect(reread["accuracy"] as? Double == smaller["final_accuracy"] as? Double && (reread["parameters"] as? Int ?? 0) < 30_000,
                "\(reread) \(smaller)")
        let synflow = try cli.distillery(["prune", "--model", path("teacher.safetensors"), "--method", "synflow", "--sparsity", "0.5",
                                          "--out", path("synflow.safetensors")] + data)
        #expect(synflow.status == 1 && synflow.stderr.contains("reads token ids"), "\(synflow.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("synflow.safetensors")))

        let quantize = try cli.distillery(["quantize", "--model", path("teacher.safetensors"), "--per-channel", "--sample", "256",
                                           "--out", path("int8.safetensors"), "--json"] + data)
        try #require(quantize.status == 0, "\(quantize.stderr)")
        let q = try cli.json(quantize.stdout)
        let floatAccuracy = q["float_accuracy"] as? Double ?? 0, int8Accuracy = q["int8_accuracy"] as? Double ?? 0
        #expect(floatAccuracy > 0.15 && abs(floatAccuracy - int8Accuracy) < 0.02, "\(q)")
        let export = try cli.distillery(["export", "--model", path("int8.safetensors"), "--onnx", path("int8.onnx")])
        try #require(export.status == 0, "\(export.stderr)")
        // The inference bench feeds a language model token ids.
        let bench = try cli.distillery(["bench", "infer", "--model", path("teacher.safetensors"), "--model", path("int8.safetensors"),
                                        "--batch-size", "4", "--repeats", "1", "--seconds", "0.05", "--json"])
        try #require(bench.status == 0, "\(bench.stderr)")
        try Checkpoint.save(try Network(ModelSpec("mlp:32-8-4"), seed: 1), to: URL(fileURLWithPath: path("mlp.safetensors")))
        // Generation: the prompt, then the asked-for bytes; the same seed gives the same text, the int8 file runs too.
        let generate = ["generate", "--prompt", "HAMLET.", "--tokens", "40", "--seed", "3", "--json"]
        let first = try cli.json(try cli.distillery(generate + ["--model", path("teacher.safetensors")]).stdout)
        let again = try cli.json(try cli.distillery(generate + ["--model", path("teacher.safetensors")]).stdout)
        let text = first["text"] as? String ?? ""
        #expect(text.hasPrefix("HAMLET.") && text.utf8.count >= 7 + 30 && text == again["text"] as? String, "\(first) \(again)")
        let int8Text = try cli.json(try cli.distillery(generate + ["--model", path("int8.safetensors")]).stdout)["text"] as? String ?? ""
        #expect(int8Text.hasPrefix("HAMLET.") && int8Text.count > 7, "\(int8Text)")
        let notAnLM = try cli.distillery(["generate", "--model", path("mlp.safetensors"), "--tokens", "3"])
        #expect(notAnLM.status == 1 && notAnLM.stderr.contains("not a language model"), "\(notAnLM.stderr)")
        // An image model asked to read text is refused naming the problem.
        let wrong = try cli.distillery(["eval", "--model", path("mlp.safetensors")] + data)
        #expect(wrong.status != 0 && wrong.stderr.contains("no language model"), "\(wrong.stderr)")
    }

    /// A GPT checkpoint through the binary: `inspect` shows its blocks, `export` writes an ONNX file with int64 ids in
    /// and per-position scores out; image data for it is refused naming both shapes.
    @Test func aGPTCheckpointIsInspectedAndExported() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try Checkpoint.save(try Network(ModelSpec("gpt:vocab=64,ctx=16,layers=2,heads=2,d=32"), seed: 1), to: URL(fileURLWithPath: path("gpt.safetensors")))
        let inspect = try cli.json(try cli.distillery(["inspect", path("gpt.safetensors"), "--json"]).stdout)
        let layers = inspect["layers"] as? [String] ?? []
        #expect(layers.contains("  1: TransformerBlock") && layers.contains("    attn: CausalSelfAttention(32, heads=2)")
                && layers.contains("lm_head: OutputProjection(32 -> 64, tied)"), "\(layers)")
        let export = try cli.distillery(["export", "--model", path("gpt.safetensors"), "--onnx", path("gpt.onnx")])
        try #require(export.status == 0, "\(export.stderr)")
        let onnx = try cli.distillery(["inspect", path("gpt.onnx")])
        #expect(onnx.stdout.contains("LayerNormalization") && onnx.stdout.contains("Softmax"), "\(onnx.stdout)")
        guard let fashion = try TestSupport.fashionMNIST() else { return }
        let quantized = try cli.distillery(["quantize", "--model", path("gpt.safetensors"), "--out", path("int8.safetensors"),
                                            "--data", "idx:\(fashion)", "--limit", "256", "--test-limit", "64"])
        // Images for a language model: refused before anything runs, naming both shapes.
        #expect(quantized.status == 1 && quantized.stderr.contains("takes inputs [16] but fashion-mnist has samples [1, 28, 28]"), "\(quantized.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("int8.safetensors")))
    }
}
