import Compute

/// Steps trainable parameters from their gradients; PyTorch's update rules.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    func step(_ parameters: [Parameter])
}

/// SGD with optional momentum, Nesterov momentum and L2 weight decay (torch.optim.SGD, dampening 0).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, nesterov: Bool, weightDecay: Float
    private var velocity: [ObjectIdentifier: [Float]] = [:]

    public init(learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        precondition(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0")
        self.learningRate = learningRate; self.momentum = momentum
        self.nesterov = nesterov; self.weightDecay = weightDecay
    }

    public func step(_ parameters: [Parameter]) {
        for p in parameters where p.isTrainable {
            let key = ObjectIdentifier(p)
            var buffer = velocity[key] ?? []
            velocity[key] = nil  // keep the buffer uniquely referenced while we write it
            if momentum > 0 && buffer.isEmpty { buffer = [Float](repeating: 0, count: p.value.count) }
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                p.grad.scalars.withUnsafeBufferPointer { g in
                    if momentum == 0 {
                        OptimizerKernels.sgd(w, g, learningRate: learningRate, weightDecay: weightDecay)
                    } else {
                        buffer.withUnsafeMutableBufferPointer { v in
                            OptimizerKernels.sgdMomentum(w, g, velocity: v, learningRate: learningRate, momentum: momentum,
                                                         nesterov: nesterov, weightDecay: weightDecay)
                        }
                    }
                }
            }
            if momentum > 0 { velocity[key] = buffer }
        }
    }
}

/// Adam (Kingma and Ba 2015) with bias correction and L2 weight decay, as torch.optim.Adam.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]
    private var steps = 0

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2
        self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    public func step(_ parameters: [Parameter]) {
        steps += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(steps)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(steps)))
        let stepSize = learningRate / correction1
        let rootCorrection2 = correction2.squareRoot()
        for p in parameters where p.isTrainable {
            let key = ObjectIdentifier(p)
            var state = moments[key] ?? ([Float](repeating: 0, count: p.value.count), [Float](repeating: 0, count: p.value.count))
            moments[key] = nil  // unique ownership while writing
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                p.grad.scalars.withUnsafeBufferPointer { g in
                    state.m.withUnsafeMutableBufferPointer { m in
                        state.v.withUnsafeMutableBufferPointer { v in
                            OptimizerKernels.adam(w, g, m: m, v: v, stepSize: stepSize, rootCorrection2: rootCorrection2,
                                                  beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
                        }
                    }
                }
            }
            moments[key] = state
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The optimizers by the names commands and jobs use; Adam is the default, written here once.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case sgd, adam
    public static let `default` = OptimizerKind.adam
}
