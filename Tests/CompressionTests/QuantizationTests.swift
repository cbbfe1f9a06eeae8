import Compute
import Foundation
import NeuralNet
import SafeTensors
import Testing
import TestSupport
@testable import Compression

@Suite struct QuantizationTests {
    static func random(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in low + (high - low) * rng.nextFloat() })
    }

    /// A CNN with BatchNorm whose running statistics are not the identity.
    static func network(seed: UInt64, spec: String = "cnn:2x8x8:c6bn-p-c8-p-f16bn-d0.2-4") throws -> Network {
        let model = try Network(ModelSpec(spec), seed: seed)
        var rng = SeededRandom(seed: seed &+ 100)
        for layer in model.layers {
            guard let norm = layer as? BatchNorm else { continue }
            for c in 0..<norm.features {
                norm.gamma.value.scalars[c] = 0.5 + rng.nextFloat()
                norm.beta.value.scalars[c] = rng.nextFloat() - 0.5
                norm.runningMean.value.scalars[c] = rng.nextFloat() - 0.5
                norm.runningVariance.value.scalars[c] = 0.2 + rng.nextFloat()
            }
        }
        return model
    }

    @Test func int8GemmIsExact() {
        var rng = SeededRandom(seed: 1)
        let m = 37, n = 19, k = 53
        let a = (0..<(m * k)).map { _ in UInt8(rng.next() % 256) }
        let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: rng.next() % 255) &- 127 }
        var fast = [Int32](repeating: 0, count: m * n), slow = fast
        Int8GEMM.u8s8s32(.none, .transposed, m: m, n: n, k: k, a: a, lda: k, aZero: 128, b: b, ldb: k, c: &fast, ldc: n)
        Int8GEMM.reference(.none, .transposed, m: m, n: n, k: k, a: a, lda: k, aZero: 128, b: b, ldb: k, c: &slow, ldc: n)
        #expect(fast == slow)
    }

    @Test func weightQuantizationIsSymmetricWithinHalfAStep() {
        let weights = QuantizationTests.random([6, 10], seed: 2).scalars.enumerated().map { i, w in w * Float(i / 10 + 1) }
        let perTensor = QuantizedWeights(weights, shape: [6, 10], perChannel: false)
        let perChannel = QuantizedWeights(weights, shape: [6, 10], perChannel: true)
        #expect(perTensor.scales == [weights.map(abs).max()! / 127])
        #expect(perChannel.scales.count == 6)
        func error(_ q: QuantizedWeights) -> [Float] { zip(q.dequantized(), weights).map { abs($0 - $1) } }
        for (i, e) in error(perChannel).enumerated() { #expect(e <= perChannel.scales[i / 10] / 2 + 1e-7) }
        #expect(error(perChannel).reduce(0, +) < error(perTensor).reduce(0, +))
        #expect(perChannel.values.allSatisfy { $0 >= -127 })
    }

    @Test func calibrationMethodsClipAsDocumented() {
        var rng = SeededRandom(seed: 3)
        var values = (0..<20_000).map { _ in abs(rng.nextGaussian()) }
        values[7] = 60  // one outlier
        let minmax = ActivationQuantization.calibrate(values, method: .minmax)
        let percentile = ActivationQuantization.calibrate(values, method: .percentile)
        let mse = ActivationQuantization.calibrate(values, method: .mse)
        #expect(minmax.zero == 0 && abs(minmax.scale - 60 / 255) < 1e-6)
        #expect(percentile.scale < minmax.scale / 5)
        func error(_ q: ActivationQuantization) -> Float { values.map { v in let d = q.dequantize(q.quantize(v)) - v; return d * d }.reduce(0, +) }
        #expect(error(mse) < error(minmax))
        let signed = ActivationQuantization.calibrate([-2, 0.5, 1], method: .minmax)
        #expect(signed.zero == 128 && abs(signed.scale - 2 / 127) < 1e-7)
        #expect(signed.dequantize(signed.quantize(-2)) == -2)
    }

    @Test func batchNormFoldingPreservesEvaluationOutputs() throws {
        let model = try QuantizationTests.network(seed: 4)
        let folded = try BatchNormFolding.fold(model)
        #expect(!folded.layers.contains { $0 is BatchNorm })
        let x = QuantizationTests.random([5, 2, 8, 8], seed: 5)
        let a = model.forward(x, training: false), b = folded.forward(x, training: false)
        for (u, v) in zip(a.scalars, b.scalars) { #expect(abs(u - v) < 1e-4 * max(1, abs(u))) }
    }

    /// oneDNN's int8 convolution and our im2row + GEMM path requantize alike (both round half to even).
    @Test func int8ConvolutionPrimitiveMatchesTheGEMMPath() throws {
        let model = try QuantizationTests.network(seed: 9, spec: "cnn:2x8x8:c6bn-p-c8k3p1s2-f16-4")
        let sample = QuantizationTests.random([64, 2, 8, 8], seed: 10)
        let quantized = try QuantizedModel.postTraining(model, sample: sample, perChannel: true, calibration: .minmax)
        let x = QuantizationTests.random([7, 2, 8, 8], seed: 11, low: -1.2, high: 1.2)
        let network = try Int8Network(quantized)
        let primitive = network.forward(x)
        network.useConvolutionPrimitives = false
        let gemm = network.forward(x)
        let range = gemm.scalars.map(abs).max()!
        #expect(zip(primitive.scalars, gemm.scalars).allSatisfy { abs($0 - $1) <= 0.01 * range }, "\(primitive.scalars) vs \(gemm.scalars)")
    }

    /// The integer pipeline computes what fake quantization in float predicts: each layer's input snapped to its
    /// uint8 grid, the dequantized weights, float arithmetic.
    @Test(arguments: [(true, "cnn:2x8x8:c6bn-p-c8-p-f16bn-d0.2-4"), (false, "cnn:2x8x8:c6bn-p-c8-p-f16bn-d0.2-4"),
                      (true, "cnn:2x8x8:p-c6k3p1s2bn-f8-4")])
    func int8NetworkMatchesSimulatedQuantization(perChannel: Bool, spec: String) throws {
        let model = try QuantizationTests.network(seed: 6, spec: spec)
        let sample = QuantizationTests.random([64, 2, 8, 8], seed: 7)
        let quantized = try QuantizedModel.postTraining(model, sample: sample, perChannel: perChannel, calibration: .minmax)
        let x = QuantizationTests.random([9, 2, 8, 8], seed: 8, low: -1.2, high: 1.2)
        let integer = try Int8Network(quantized).forward(x)
        var simulated = x
        let grids = Dictionary(uniqueKeysWithValues: quantized.layers.map { ($0.path, $0.input) })
        for (name, layer) in quantized.float.topLevel {
            if let grid = grids[name] { simulated.scalars = simulated.scalars.map { grid.dequantize(grid.quantize($0)) } }
            simulated = layer.forward(simulated, training: false)
        }
        let range = simulated.scalars.map(abs).max()!
        let differences = zip(integer.scalars, simulated.scalars).map { abs($0 - $1) }
        #expect(differences.max()! < 0.02 * range, "max \(differences.max()!) of \(range)")
        #expect(differences.reduce(0, +) / Float(differences.count) < 0.003 * range)
        // And it stays close to the float network it came from.
        let reference = model.forward(x, training: false)
        func argmax(_ t: Tensor, row: Int) -> Int { (0..<4).max { t.scalars[row * 4 + $0] < t.scalars[row * 4 + $1] }! }
        let agree = (0..<9).filter { argmax(integer, row: $0) == argmax(reference, row: $0) }.count
        #expect(agree >= 8)
    }

    @Test func mlpRunsInInt8Too() throws {
        let model = try Network(ModelSpec("mlp:20-16-5"), seed: 9)
        let sample = QuantizationTests.random([32, 20], seed: 10, low: 0, high: 1)
        let quantized = try QuantizedModel.postTraining(model, sample: sample, perChannel: true, calibration: .mse)
        let x = QuantizationTests.random([4, 20], seed: 11, low: 0, high: 1)
        let integer = try Int8Network(quantized).forward(x), float = model.forward(x, training: false)
        let range = float.scalars.map(abs).max()!
        for (a, b) in zip(integer.scalars, float.scalars) { #expect(abs(a - b) < 0.05 * range) }
    }

    @Test func sparseInt8FilesRoundTripAndShrink() throws {
        let directory = try TestSupport.temporaryDirectory("compression")
        let model = try Network(ModelSpec("mlp:128-256-10"), seed: 12)
        let masks = PruningMasks.select(scores: Saliency.magnitude(model), sparsity: 0.9, scope: .global, within: .dense(model))
        masks.apply(to: model)
        let dense = directory.appendingPathComponent("dense.safetensors"), sparse = directory.appendingPathComponent("sparse.safetensors")
        let int8 = directory.appendingPathComponent("int8.safetensors")
        try Checkpoint.save(model, to: dense)
        try CompressedCheckpoint.save(model, sparse: true, metadata: [:], to: sparse)
        let loaded = try CompressedCheckpoint.load(sparse)
        #expect(loaded.model.namedParameters.map(\.parameter.value) == model.namedParameters.map(\.parameter.value))
        #expect(loaded.masks == PruningMasks.nonzero(model))
        let quantized = try QuantizedModel.postTraining(model, sample: QuantizationTests.random([16, 128], seed: 13), perChannel: true, calibration: .minmax)
        try CompressedCheckpoint.save(quantized, sparse: true, metadata: ["note": "x"], to: int8)
        let back = try CompressedCheckpoint.load(int8)
        let x = QuantizationTests.random([3, 128], seed: 14)
        #expect(try Int8Network(back.quantized!).forward(x) == Int8Network(quantized).forward(x))
        #expect(back.metadata["distillery.weights"] == "int8-per-channel" && back.metadata["note"] == "x")
        func size(_ url: URL) throws -> Int { try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int }
        let (denseBytes, sparseBytes, int8Bytes) = (try size(dense), try size(sparse), try size(int8))
        #expect(sparseBytes * 3 < denseBytes)
        #expect(int8Bytes * 10 < denseBytes, "\(int8Bytes) vs \(denseBytes)")
    }

    @Test func aMaskThatDisagreesWithItsValuesIsReported() throws {
        let directory = try TestSupport.temporaryDirectory("compression")
        let model = try Network(ModelSpec("mlp:8-4-2"), seed: 15)
        let url = directory.appendingPathComponent("m.safetensors")
        try CompressedCheckpoint.save(model, sparse: true, metadata: [:], to: url)
        var file = try SafeTensorsFile.read(url)
        let index = file.tensors.firstIndex { $0.name == "1.weight.mask" }!
        file.tensors[index].bytes[0] ^= 0b1  // one weight fewer than values stored
        try file.write(to: url)
        #expect {
            _ = try CompressedCheckpoint.load(url)
        } throws: { error in
            "\(error)".contains("1.weight") && "\(error)".contains("mask keeps 31")
        }
    }

    @Test func specsRoundTripThroughTheirStages() throws {
        for text in ["mlp:784-128-64-10", "mlp:20-8-3:bn:dropout=0.25", "cnn:1x28x28:c8-p-c16-p-f32-10", "cnn:3x32x32:c16k5p1s2bn-p3-d0.3-f64bn-10"] {
            let spec = try ModelSpec(text)
            #expect(try ModelSpec(inputShape: spec.inputShape, stages: spec.stages).stages == spec.stages)
        }
    }
}
