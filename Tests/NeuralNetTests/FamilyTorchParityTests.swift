import Compute
import Foundation
import SafeTensors
import Testing
import TestSupport
@testable import NeuralNet

/// One network of each family with skips against its PyTorch twin (Tests/Peers/torch_families.py, written with
/// PyTorch's own forward methods): our checkpoint loads with `load_state_dict(strict=True)`; logits agree (1e-4) and
/// every parameter's gradient (1e-3 relative) in training and evaluation mode; and weights PyTorch trained load
/// here and give its logits.
@Suite struct FamilyTorchParityTests {
    static let specs = ["resnet:2x12x12:depth=8,width=4,classes=5", "mobilenetv2:2x12x12:width=4,expansion=3,blocks=2,classes=5",
                        "gpt:vocab=40,ctx=12,layers=2,heads=2,d=16", "gpt:vocab=40,ctx=12,layers=1,heads=4,d=16,tied=0"]

    /// A batch for `spec`: images, or token ids (stored for PyTorch as floats) one short of the context.
    static func batch(_ spec: String, _ count: Int, seed: UInt64) throws -> (ours: Tensor, stored: TensorEntry) {
        let model = try ModelSpec(spec)
        if model.isLanguageModel {
            let ids = TransformerTests.tokens([count, model.inputShape[0] - 1], vocab: model.classes, seed: seed)
            return (ids, TensorEntry(name: "x", shape: ids.shape, floats: ids.indices.map(Float.init)))
        }
        let x = GradientCheck.randomTensor([count] + model.inputShape, seed: seed, scale: 2)
        return (x, TensorEntry(name: "x", shape: x.shape, floats: x.scalars))
    }

    /// Runs the peer script with `arguments`; nil when PyTorch is missing and peers are optional.
    static func peer(_ arguments: [String]) throws -> ProcessResult? {
        let path = TestSupport.peerScript("torch_families.py")
        let argv = ([path] + arguments).map { "'\($0)'" }.joined(separator: ", ")
        return try TestSupport.python("import runpy, sys\nsys.argv = [\(argv)]\nrunpy.run_path('\(path)', run_name='__main__')",
                                      needs: ["torch", "safetensors"])
    }

    static func tensors(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile.read(url)
        return Dictionary(uniqueKeysWithValues: file.tensors.compactMap { t in t.floats().map { (t.name, $0) } })
    }

    /// |a - b| <= tolerance * max(max |b|, 1e-2): relative to the tensor's own scale, so near-zero entries are not
    /// judged by rounding noise. (A conv bias ahead of BatchNorm has a true gradient of 0 in training mode; both
    /// sides give float noise of about 1e-6 there.)
    static func agree(_ ours: [Float], _ theirs: [Float]?, tolerance: Float) -> Bool {
        guard let theirs, theirs.count == ours.count else { return false }
        let scale = max(theirs.map(abs).max() ?? 0, 1e-2)
        return zip(ours, theirs).allSatisfy { abs($0 - $1) <= tolerance * scale }
    }

    @Test(arguments: specs) func ourWeightsLoadStrictlyIntoPyTorchAndAgree(spec: String) throws {
        let dir = try TestSupport.temporaryDirectory("torch-parity")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Network(ModelSpec(spec), seed: 3)
        // Running statistics off their defaults, so evaluation mode tests them.
        _ = model.forward(try Self.batch(spec, 6, seed: 8).ours, training: true)
        try Checkpoint.save(model, to: dir.appendingPathComponent("ours.safetensors"))
        let (x, stored) = try Self.batch(spec, 4, seed: 1)
        let r = GradientCheck.randomTensor(model.forward(x, training: false).shape, seed: 2)
        try SafeTensorsFile(metadata: [:], tensors: [stored, TensorEntry(name: "r", shape: r.shape, floats: r.scalars)])
            .write(to: dir.appendingPathComponent("batch.safetensors"))
        guard let result = try Self.peer(["check", spec, dir.appendingPathComponent("ours.safetensors").path,
                                          dir.appendingPathComponent("batch.safetensors").path, dir.appendingPathComponent("torch.safetensors").path])
        else { return }
        try #require(result.status == 0, "\(result.stderr)")
        let torch = try Self.tensors(dir.appendingPathComponent("torch.safetensors"))
        for mode in ["train", "eval"] {
            let logits = model.forward(x, training: mode == "train")
            model.backward(r)
            #expect(Self.agree(logits.scalars, torch["\(mode).logits"], tolerance: 1e-4), "\(spec) \(mode) logits")
            for (name, parameter) in model.namedParameters where parameter.isTrainable {
                #expect(Self.agree(parameter.grad.scalars, torch["\(mode).grad.\(name)"], tolerance: 1e-3), "\(spec) \(mode) gradient of \(name)")
            }
        }
        // The training forward moved the running statistics the same way in both.
        for (name, parameter) in model.namedParameters where !parameter.isTrainable {
            #expect(Self.agree(parameter.value.scalars, torch["state.\(name)"], tolerance: 1e-4), "\(spec) \(name) after training")
        }
    }

    @Test(arguments: specs) func weightsPyTorchTrainedGiveItsLogitsHere(spec: String) throws {
        let dir = try TestSupport.temporaryDirectory("torch-parity")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, stored) = try Self.batch(spec, 4, seed: 5)
        try SafeTensorsFile(metadata: [:], tensors: [stored])
            .write(to: dir.appendingPathComponent("batch.safetensors"))
        let weights = dir.appendingPathComponent("theirs.safetensors"), logits = dir.appendingPathComponent("logits.safetensors")
        guard let result = try Self.peer(["train", spec, weights.path, dir.appendingPathComponent("batch.safetensors").path, logits.path])
        else { return }
        try #require(result.status == 0, "\(result.stderr)")
        let (model, _) = try Checkpoint.load(weights)
        let norms = model.namedModules.compactMap { $0.layer as? BatchNorm }
        #expect(model.spec.isLanguageModel || !norms.isEmpty && norms.allSatisfy { $0.batchesTracked == 4 }, "PyTorch's num_batches_tracked read")
        let ours = model.forward(x, training: false)
        #expect(Self.agree(ours.scalars, try Self.tensors(logits)["logits"], tolerance: 1e-4), "\(spec) logits of PyTorch's weights")
    }
}
