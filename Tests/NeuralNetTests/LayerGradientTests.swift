import Compute
import Testing
@testable import NeuralNet

@Suite struct LayerGradientTests {
    @Test func linear() {
        var rng = SeededRandom(seed: 1)
        let layer = Linear(7, 5, rng: &rng)
        let bad = GradientCheck.check(layer, input: GradientCheck.randomTensor([4, 7], seed: 2))
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test(arguments: [(3, 1, 1), (3, 2, 0), (5, 1, 2), (1, 1, 0)])
    func conv2d(kernel: Int, stride: Int, padding: Int) {
        var rng = SeededRandom(seed: 3)
        let layer = Conv2d(2, 3, kernel: kernel, stride: stride, padding: padding, rng: &rng)
        let bad = GradientCheck.check(layer, input: GradientCheck.randomTensor([2, 2, 7, 6], seed: 4))
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func conv2dMatchesDirectConvolution() {
        var rng = SeededRandom(seed: 5)
        let layer = Conv2d(3, 4, kernel: 3, stride: 2, padding: 1, rng: &rng)
        let x = GradientCheck.randomTensor([2, 3, 9, 8], seed: 6)
        let y = layer.forward(x, training: false)
        let g = ConvGeometry(batch: 2, channels: 3, height: 9, width: 8, kernel: 3, stride: 2, padding: 1)
        let reference = ReferenceConv2d.forward(g, x: x.scalars, weight: layer.weight.value.scalars,
                                                bias: layer.bias.value.scalars, outChannels: 4)
        #expect(y.shape == [2, 4, 5, 4])
        #expect(zip(y.scalars, reference).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// Inference runs on oneDNN's primitive, training on im2col + GEMM: same outputs, and a backward pass after
    /// inference (saliency gradients) gives the gradients a training forward would.
    @Test func conv2dInferenceAndTrainingPathsAgree() {
        var rng = SeededRandom(seed: 8)
        let layer = Conv2d(3, 5, kernel: 3, stride: 1, padding: 1, rng: &rng)
        let x = GradientCheck.randomTensor([4, 3, 8, 8], seed: 9), dy = GradientCheck.randomTensor([4, 5, 8, 8], seed: 10)
        let trained = layer.forward(x, training: true)
        _ = layer.backward(dy, needInputGradient: true)
        let (dw, db) = (layer.weight.grad.scalars, layer.bias.grad.scalars)
        let inferred = layer.forward(x, training: false)
        #expect(zip(trained.scalars, inferred.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        _ = layer.backward(dy, needInputGradient: true)
        #expect(zip(dw, layer.weight.grad.scalars).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(zip(db, layer.bias.grad.scalars).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func relu() {
        // Keep inputs away from the kink at 0, where the derivative is undefined.
        var x = GradientCheck.randomTensor([3, 10], seed: 7)
        x.scalars = x.scalars.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        let bad = GradientCheck.check(ReLU(), input: x)
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func maxPool() {
        // Well-separated distinct values, so a small perturbation never changes a window's winner.
        var rng = SeededRandom(seed: 8)
        let values = rng.permutation(2 * 3 * 6 * 6).map { Float($0) * 0.05 }
        let bad = GradientCheck.check(MaxPool2d(kernel: 2), input: Tensor(shape: [2, 3, 6, 6], scalars: values), epsilon: 1e-2)
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func flatten() {
        let bad = GradientCheck.check(Flatten(), input: GradientCheck.randomTensor([2, 3, 2, 2], seed: 9))
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test(arguments: [[4, 5], [3, 2, 4, 4]])
    func batchNormTraining(shape: [Int]) {
        let layer = BatchNorm(shape[1])
        layer.gamma.value = GradientCheck.randomTensor([shape[1]], seed: 10)
        layer.beta.value = GradientCheck.randomTensor([shape[1]], seed: 11)
        let bad = GradientCheck.check(layer, input: GradientCheck.randomTensor(shape, seed: 12), epsilon: 1e-2, tolerance: 3e-2)
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func batchNormEvaluation() {
        let layer = BatchNorm(3)
        layer.runningMean.value = GradientCheck.randomTensor([3], seed: 13)
        layer.runningVariance.value = Tensor(shape: [3], scalars: [0.5, 2, 1.5])
        layer.gamma.value = GradientCheck.randomTensor([3], seed: 14)
        let bad = GradientCheck.check(layer, input: GradientCheck.randomTensor([2, 3, 3, 3], seed: 15), training: false)
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func batchNormTracksRunningStatisticsAsPyTorch() {
        let layer = BatchNorm(1, momentum: 0.1)
        let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 6])
        let y = layer.forward(x, training: true)
        // mean 3, biased variance 3.5, unbiased 14/3
        #expect(abs(layer.runningMean.value.scalars[0] - 0.3) < 1e-6)
        #expect(abs(layer.runningVariance.value.scalars[0] - (0.9 + 0.1 * 14 / 3)) < 1e-5)
        #expect(abs(y.scalars[0] - Float((1 - 3) / (3.5 + 1e-5).squareRoot())) < 1e-5)
    }

    @Test func dropout() {
        let x = GradientCheck.randomTensor([4, 25], seed: 16)
        let bad = GradientCheck.check(Dropout(rate: 0.4, seed: 17), input: x, fresh: { Dropout(rate: 0.4, seed: 17) })
        #expect(bad.isEmpty, "\(bad.prefix(5))")
        let layer = Dropout(rate: 0.4, seed: 17)
        let y = layer.forward(GradientCheck.randomTensor([100, 100], seed: 18).scalars.map { _ in 1 }.withShape([100, 100]), training: true)
        let dropped = Double(y.scalars.filter { $0 == 0 }.count) / 10_000
        #expect(abs(dropped - 0.4) < 0.03)
        #expect(y.scalars.filter { $0 != 0 }.allSatisfy { abs($0 - 1 / 0.6) < 1e-6 })
        #expect(layer.forward(x, training: false) == x)
    }

    /// Batch statistics over three samples curve the loss sharply, hence the small step.
    @Test func wholeModelWithBatchNormAndPooling() throws {
        let model = try Network(ModelSpec("cnn:2x6x6:c3bn-p-f5bn-4"), seed: 3)
        let x = GradientCheck.randomTensor([3, 2, 6, 6], seed: 19)
        let labels: [Int32] = [0, 3, 1]
        let result = CrossEntropy.compute(logits: model.forward(x, training: true), labels: labels)
        model.backward(result.gradient)
        let grads = model.trainableParameters.map(\.grad)
        func loss() -> Double { Double(CrossEntropy.compute(logits: model.forward(x, training: true), labels: labels).loss) }
        var worst = 0.0
        for (p, g) in zip(model.trainableParameters, grads) {
            for i in stride(from: 0, to: p.value.count, by: max(1, p.value.count / 20)) {
                let saved = p.value.scalars[i]
                p.value.scalars[i] = saved + 2e-3
                let up = loss()
                p.value.scalars[i] = saved - 2e-3
                let down = loss()
                p.value.scalars[i] = saved
                let numeric = (up - down) / 4e-3
                worst = max(worst, abs(numeric - Double(g.scalars[i])) / max(0.05, abs(numeric)))
            }
        }
        #expect(worst < 0.05, "worst relative error \(worst)")
    }
}

extension Array where Element == Float {
    func withShape(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: self) }
}
