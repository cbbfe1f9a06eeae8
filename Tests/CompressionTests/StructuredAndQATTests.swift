import Compute
import Datasets
import NeuralNet
import Testing
import Training
@testable import Compression

@Suite struct StructuredAndQATTests {
    /// Removing units is the same as cutting their outputs off from the next layer: the smaller network computes
    /// what the original computes with those input columns of the next Conv2d or Linear zeroed.
    @Test(arguments: ["cnn:2x8x8:c6bn-p-c8-p-f10bn-3", "mlp:12-10-8-3"])
    func structuredPruningBuildsTheEquivalentSmallerNetwork(spec: String) throws {
        let model = try QuantizationTests.network(seed: 1, spec: spec)
        let smaller = try StructuredPruning.prune(model, sparsity: 0.5)
        let gemms = model.layers.indices.filter { gemmParameters(model.layers[$0]) != nil }
        #expect(smaller.parameterCount < model.parameterCount * 6 / 10)
        // Zero, in the original, the next layer's columns of every unit the structured pruning dropped
        // (the kept units ranked on the untouched weights first).
        let kept = gemms.dropLast().map { index -> Set<Int> in
            let weight = gemmParameters(model.layers[index])!.weight
            let rows = weight.value.shape[0], width = weight.value.count / rows
            let norms = (0..<rows).map { r in weight.value.scalars[(r * width)..<((r + 1) * width)].reduce(0) { $0 + abs($1) } }
            return Set((0..<rows).sorted { norms[$0] > norms[$1] }.prefix(Int((Double(rows) * 0.5).rounded())))
        }
        for (position, units) in kept.enumerated() {
            let rows = gemmParameters(model.layers[gemms[position]])!.weight.value.shape[0]
            let next = gemmParameters(model.layers[gemms[position + 1]])!.weight
            let nextRows = next.value.shape[0], nextWidth = next.value.count / nextRows, perUnit = nextWidth / rows
            for r in 0..<nextRows { for u in 0..<rows where !units.contains(u) { for p in 0..<perUnit { next.value.scalars[r * nextWidth + u * perUnit + p] = 0 } } }
        }
        let x = QuantizationTests.random([4] + model.inputShape, seed: 2)
        let a = model.forward(x, training: false), b = smaller.forward(x, training: false)
        for (u, v) in zip(a.scalars, b.scalars) { #expect(abs(u - v) < 1e-4 * max(1, abs(u)), "\(u) vs \(v)") }
    }

    /// Forward: the overridden layer computes with int8-snapped weights and grid-snapped inputs. Backward: the weight
    /// gradient is the plain layer's at those values (straight through), and clipped inputs get no gradient.
    @Test func fakeQuantizationPassesGradientsStraightThrough() throws {
        var rng = SeededRandom(seed: 3)
        let plain = Linear(6, 4, rng: &rng), wrapped = Linear(6, 4, rng: &rng)
        wrapped.weight.value = plain.weight.value
        wrapped.bias.value = plain.bias.value
        let grid = ActivationQuantization(scale: 0.01, zero: 128)  // inputs clip outside [-1.28, 1.27]
        wrapped.layerOverride = FakeQuantization(weight: wrapped.weight, input: grid, perChannel: true)
        let layer = wrapped
        let x = QuantizationTests.random([3, 6], seed: 4, low: -1.6, high: 1.6)
        let dy = QuantizationTests.random([3, 4], seed: 5)
        let y = layer.forward(x, training: true)
        let dx = layer.backward(dy, needInputGradient: true)!
        let floatWeights = plain.weight.value.scalars
        #expect(wrapped.weight.value.scalars == floatWeights, "float weights restored after backward")
        plain.weight.value.scalars = QuantizedWeights(floatWeights, shape: [4, 6], perChannel: true).dequantized()
        var snapped = x
        snapped.scalars = x.scalars.map { grid.dequantize(grid.quantize($0)) }
        #expect(plain.forward(snapped, training: true) == y)
        let expected = plain.backward(dy, needInputGradient: true)!
        #expect(wrapped.weight.grad == plain.weight.grad)
        for i in 0..<x.count {
            let inside = x.scalars[i] >= grid.dequantize(0) && x.scalars[i] <= grid.dequantize(255)
            #expect(dx.scalars[i] == (inside ? expected.scalars[i] : 0))
        }
    }

    @Test func quantizationAwareTrainingKeepsSparsityAndLearns() throws {
        let train = PruningTests.blobs(600, seed: 6), test = PruningTests.blobs(300, seed: 7)
        let model = try Network(ModelSpec("mlp:12-16bn-3".replacingOccurrences(of: "16bn", with: "16") + ":bn"), seed: 8)
        let tuner = FineTuner(train: train, test: test, config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 1),
                              normalization: nil, teachers: nil)
        try tuner.fit(model, masks: nil, epochs: 3)
        let masks = PruningMasks.select(scores: Saliency.magnitude(model), sparsity: 0.5, scope: .global, within: .dense(model))
        masks.apply(to: model)
        let quantized = try QuantizationAwareTraining.run(model, sample: train.batch(Array(0..<200), normalization: nil).images,
                                                          perChannel: true, calibration: .minmax, tuner: tuner, epochs: 2)
        #expect(!quantized.float.layers.contains { $0 is BatchNorm })
        #expect(PruningMasks.nonzero(quantized.float).sparsity >= 0.5 - 1e-9)
        let runtime = try Int8Network(quantized)
        #expect(Evaluation.run({ runtime.forward($0) }, on: test, normalization: nil).accuracy > 0.95)
    }
}
