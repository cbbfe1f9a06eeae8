import Compute
import Foundation
import SafeTensors
import Testing
import TestSupport
@testable import NeuralNet

@Suite struct CheckpointTests {
    @Test func roundTripKeepsWeightsBuffersSpecAndPredictions() throws {
        let dir = try TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("model.safetensors")
        let model = try Network(ModelSpec("cnn:1x8x8:c4bn-p-f6-3"), seed: 4)
        let x = GradientCheck.randomTensor([5, 1, 8, 8], seed: 1)
        _ = model.forward(x, training: true)  // moves BatchNorm's running statistics off their defaults
        try Checkpoint.save(model, metadata: ["distillery.data": "synthetic"], to: url)
        let (loaded, metadata) = try Checkpoint.load(url)
        #expect(metadata["distillery.data"] == "synthetic")
        #expect(loaded.spec == model.spec)
        #expect(loaded.namedParameters.map(\.parameter.value) == model.namedParameters.map(\.parameter.value))
        #expect(loaded.forward(x, training: false) == model.forward(x, training: false))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers == ["model.safetensors"], "temporary files left behind: \(leftovers)")
    }

    /// Every key a writer of any version used reads into its field and back to the same text; unknown keys survive.
    @Test func metadataRoundTripsThroughItsType() throws {
        let raw = ["distillery.spec": "mlp:4-3-2", "distillery.format": "2", "distillery.weights": "int8-per-channel",
                   "distillery.storage": "bitmask", "distillery.data": "fashion-mnist", "distillery.normalize": "0.2860,0.3530",
                   "distillery.epochs": "12", "distillery.seed": "5", "distillery.batch_size": "128", "distillery.optimizer": "adam",
                   "distillery.lr": "0.001", "distillery.schedule": "cosine", "distillery.augment": "translate=2,flip=false",
                   "distillery.job": "fashion-quick", "distillery.teachers": "cnn-a,cnn-b", "distillery.temperature": "2.0",
                   "distillery.alpha": "0.5", "distillery.combine": "probabilities", "distillery.replicas": "2",
                   "distillery.created": "2026-12-03T10:00:00Z", "distillery.test_accuracy": "0.9185",
                   "distillery.pruning": "global-magnitude sparsity=0.9", "distillery.sparsity": "0.898",
                   "distillery.quantization": "ptq calibration=mse", "distillery.source": "s.safetensors", "distillery.input": "pixels",
                   "distillery.future_key": "kept", "note": "x"]
        let metadata = CheckpointMetadata(raw)
        #expect(metadata.dictionary == raw)
        #expect(metadata.epochs == 12 && metadata.seed == 5 && metadata.teachers == ["cnn-a", "cnn-b"] && metadata.temperature == 2)
        #expect(metadata.unknown == ["distillery.future_key": "kept", "note": "x"])
        // What a compressed or exported copy inherits: provenance, not the source file's storage, nor others' keys.
        let inherited = metadata.provenance.dictionary
        #expect(inherited["distillery.spec"] == nil && inherited["distillery.weights"] == nil && inherited["note"] == nil)
        #expect(inherited["distillery.data"] == "fashion-mnist" && inherited["distillery.future_key"] == "kept")
    }

    @Test func mismatchedCheckpointsAreRejectedWithTheReason() throws {
        let dir = try TestSupport.temporaryDirectory()
        let model = try Network(ModelSpec("mlp:4-3-2"), seed: 0)
        let good = SafeTensorsFile(metadata: [Checkpoint.specKey: "mlp:4-3-2"],
                                   tensors: model.namedParameters.map { TensorEntry(name: $0.name, shape: $0.parameter.value.shape, floats: $0.parameter.value.scalars) })
        var missing = good
        missing.tensors.removeLast()
        var wrongShape = good
        wrongShape.tensors[0] = TensorEntry(name: "1.weight", shape: [4, 3], floats: [Float](repeating: 0, count: 12))
        var extra = good
        extra.tensors.append(TensorEntry(name: "9.weight", shape: [1], floats: [0]))
        var noSpec = good
        noSpec.metadata = [:]
        var badSpec = good
        badSpec.metadata[Checkpoint.specKey] = "mlp:4"
        let cases: [(SafeTensorsFile, String)] = [
            (missing, "missing tensor '3.bias'"), (wrongShape, "'1.weight' is F32 [4, 3]"),
            (extra, "unexpected tensors"), (noSpec, "not a Distillery checkpoint"), (badSpec, "invalid model spec"),
        ]
        for (index, (file, reason)) in cases.enumerated() {
            let url = dir.appendingPathComponent("case\(index).safetensors")
            try file.write(to: url)
            do {
                _ = try Checkpoint.load(url)
                Issue.record("case \(index) loaded")
            } catch let error as SafeTensorsError {
                #expect(error.source == url.path)
                #expect(error.problem.contains(reason), "\(error)")
            }
        }
    }
}
