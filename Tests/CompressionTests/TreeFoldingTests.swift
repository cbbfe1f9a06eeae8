import Compute
import Foundation
import NeuralNet
import Testing
import TestSupport
@testable import Compression

/// BatchNorm folding inside residual and inverted-residual blocks: the folded tree computes what the network
/// computes in evaluation, keeps every other name, and loads back from its checkpoint (the tree is stored).
@Suite struct TreeFoldingTests {
    @Test(arguments: ["resnet:2x10x10:depth=8,width=4,classes=3", "mobilenetv2:2x10x10:width=4,expansion=2,blocks=2,classes=3"])
    func foldedBlocksComputeWhatTheNetworkComputes(spec: String) throws {
        let model = try Network(ModelSpec(spec), seed: 2)
        var rng = SeededRandom(seed: 4)
        for case let norm as BatchNorm in model.namedModules.map(\.layer) {
            norm.gamma.value.scalars = norm.gamma.value.scalars.map { _ in 0.5 + rng.nextFloat() }
            norm.beta.value.scalars = norm.beta.value.scalars.map { _ in rng.nextFloat() - 0.5 }
        }
        let x = Tensor(shape: [4, 2, 10, 10], scalars: (0..<800).map { _ in rng.nextFloat() * 2 - 1 })
        _ = model.forward(x, training: true)  // running statistics of this data
        let folded = try BatchNormFolding.fold(model)
        let norms = model.namedModules.filter { $0.layer is BatchNorm }.count
        #expect(norms > 0 && !folded.namedModules.contains { $0.layer is BatchNorm }, "every BatchNorm follows a Conv2d")
        let before = Set(model.namedParameters.map(\.name)), after = Set(folded.namedParameters.map(\.name))
        #expect(after.isSubset(of: before) && after.count == before.count - 4 * norms)
        let expected = model.forward(x, training: false), got = folded.forward(x, training: false)
        let scale = expected.scalars.map(abs).max() ?? 1
        #expect(zip(expected.scalars, got.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "\(spec)")

        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("folded.safetensors")
        try Checkpoint.save(folded, to: url)
        let (loaded, _) = try Checkpoint.load(url)
        #expect(loaded.architecture == folded.architecture && loaded.forward(x, training: false) == got)
        // Quantization still takes chains only, and says so.
        #expect { _ = try QuantizedModel.postTraining(model, sample: x, perChannel: true, calibration: .minmax) } throws: {
            "\($0)".contains("quantization handles chains")
        }
    }
}
