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
        let model = try Sequential(ModelSpec("cnn:1x8x8:c4bn-p-f6-3"), seed: 4)
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

    @Test func mismatchedCheckpointsAreRejectedWithTheReason() throws {
        let dir = try TestSupport.temporaryDirectory()
        let model = try Sequential(ModelSpec("mlp:4-3-2"), seed: 0)
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
