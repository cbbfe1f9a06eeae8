import Compute
import Testing
@testable import NeuralNet

@Suite struct OptimizerTests {
    /// Runs three steps with fixed gradients; returns the weights after each.
    private func trajectory(_ optimizer: Optimizer) -> [[Float]] {
        let p = Parameter("w", Tensor(shape: [3], scalars: [1, -2, 0.5]))
        let grads: [[Float]] = [[0.1, -0.3, 0.2], [0.05, 0.1, -0.4], [-0.2, 0.0, 0.3]]
        return grads.map { g in
            p.grad = Tensor(shape: [3], scalars: g)
            optimizer.step([p])
            return p.value.scalars
        }
    }

    /// torch.optim.SGD's update, written out in Double.
    private func referenceSGD(lr: Double, momentum: Double, nesterov: Bool, decay: Double) -> [[Double]] {
        var w: [Double] = [1, -2, 0.5], v = [0.0, 0.0, 0.0]
        let grads: [[Double]] = [[0.1, -0.3, 0.2], [0.05, 0.1, -0.4], [-0.2, 0.0, 0.3]]
        var out: [[Double]] = []
        for (step, g) in grads.enumerated() {
            for i in 0..<3 {
                let d = g[i] + decay * w[i]
                v[i] = step == 0 ? d : momentum * v[i] + d
                w[i] -= lr * (momentum == 0 ? d : nesterov ? d + momentum * v[i] : v[i])
            }
            out.append(w)
        }
        return out
    }

    @Test(arguments: [(0.0, false, 0.0), (0.9, false, 0.0), (0.9, true, 0.01), (0.5, false, 0.1)])
    func sgdFollowsTorchsUpdate(momentum: Double, nesterov: Bool, decay: Double) {
        let got = trajectory(SGD(learningRate: 0.1, momentum: Float(momentum), nesterov: nesterov, weightDecay: Float(decay)))
        let want = referenceSGD(lr: 0.1, momentum: momentum, nesterov: nesterov, decay: decay)
        for (g, w) in zip(got, want) { for (a, b) in zip(g, w) { #expect(abs(Double(a) - b) < 1e-6) } }
    }

    @Test func adamFollowsTorchsUpdate() {
        let got = trajectory(Adam(learningRate: 0.01, weightDecay: 0.05))
        var w: [Double] = [1, -2, 0.5], m = [0.0, 0.0, 0.0], v = [0.0, 0.0, 0.0]
        let grads: [[Double]] = [[0.1, -0.3, 0.2], [0.05, 0.1, -0.4], [-0.2, 0.0, 0.3]]
        for (step, g) in grads.enumerated() {
            let t = Double(step + 1)
            for i in 0..<3 {
                let d = g[i] + 0.05 * w[i]
                m[i] = 0.9 * m[i] + 0.1 * d
                v[i] = 0.999 * v[i] + 0.001 * d * d
                let mHat = m[i] / (1 - pow(0.9, t)), vHat = v[i] / (1 - pow(0.999, t))
                w[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
            }
            for i in 0..<3 { #expect(abs(Double(got[step][i]) - w[i]) < 1e-6, "step \(step) index \(i)") }
        }
    }

    @Test func buffersAreNeverStepped() {
        let buffer = Parameter("running_mean", Tensor(shape: [2], scalars: [1, 2]), trainable: false)
        SGD(learningRate: 1).step([buffer])
        Adam(learningRate: 1).step([buffer])
        #expect(buffer.value.scalars == [1, 2])
    }

    @Test func schedules() throws {
        #expect(LearningRateSchedule.constant.rate(base: 0.1, epoch: 7, totalEpochs: 10) == 0.1)
        let step = try LearningRateSchedule.parse("step:3:0.1")
        #expect(step.rate(base: 1, epoch: 2.9, totalEpochs: 10) == 1)
        #expect(abs(step.rate(base: 1, epoch: 3, totalEpochs: 10) - 0.1) < 1e-7)
        #expect(abs(step.rate(base: 1, epoch: 6.5, totalEpochs: 10) - 0.01) < 1e-7)
        let cosine = try LearningRateSchedule.parse("cosine:0.01")
        #expect(cosine.rate(base: 1, epoch: 0, totalEpochs: 10) == 1)
        #expect(abs(cosine.rate(base: 1, epoch: 5, totalEpochs: 10) - 0.505) < 1e-6)
        #expect(abs(cosine.rate(base: 1, epoch: 10, totalEpochs: 10) - 0.01) < 1e-6)
        for bad in ["linear", "step:0:0.1", "step:3", "cosine:-1"] {
            #expect(throws: NeuralNetError.self) { try LearningRateSchedule.parse(bad) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
