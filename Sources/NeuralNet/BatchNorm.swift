import Compute

/// Batch normalisation over channel 1 of (batch, c) or (batch, c, h, w), as PyTorch's BatchNorm1d/2d:
/// batch statistics while training (biased variance to normalise, unbiased for the running estimate),
/// running statistics in evaluation.
public final class BatchNorm: Layer {
    public let features: Int
    public let epsilon: Float, momentum: Float
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Parameter, runningVariance: Parameter
    private var normalized: [Float] = []
    private var inverseStd: [Float] = []
    private var cachedShape: [Int] = []
    private var cachedTraining = true

    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.features = features; self.epsilon = epsilon; self.momentum = momentum
        gamma = Parameter("weight", Tensor(repeating: 1, shape: [features]))
        beta = Parameter("bias", Tensor(zeros: [features]))
        runningMean = Parameter("running_mean", Tensor(zeros: [features]), trainable: false)
        runningVariance = Parameter("running_var", Tensor(repeating: 1, shape: [features]), trainable: false)
    }

    public var summary: String { "BatchNorm(\(features))" }
    public var parameters: [Parameter] { [gamma, beta, runningMean, runningVariance] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.first == features, input.count == 1 || input.count == 3 else {
            throw NeuralNetError("\(summary) expects input (\(features)) or (\(features), h, w), got \(input)")
        }
        return input
    }

    /// (batch, channels, spatial) view of the input.
    private func layout(_ shape: [Int]) -> (batch: Int, spatial: Int) {
        (shape[0], shape.count > 2 ? shape[2...].reduce(1, *) : 1)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == features, "\(summary): input \(x.shape)")
        let (batch, spatial) = layout(x.shape)
        let m = batch * spatial
        var mean = [Float](repeating: 0, count: features)
        var invStd = [Float](repeating: 0, count: features)
        if training {
            precondition(m > 1, "\(summary): training needs more than one value per channel, got \(x.shape)")
            x.scalars.withUnsafeBufferPointer { xp in
                for c in 0..<features {
                    var sum: Double = 0, sumSquares: Double = 0
                    for b in 0..<batch {
                        let plane = xp.baseAddress! + (b * features + c) * spatial
                        var s: Float = 0, q: Float = 0
                        for i in 0..<spatial { s += plane[i]; q += plane[i] * plane[i] }
                        sum += Double(s); sumSquares += Double(q)
                    }
                    let mu = sum / Double(m)
                    let variance = max(sumSquares / Double(m) - mu * mu, 0)
                    mean[c] = Float(mu)
                    invStd[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
                    let unbiased = Float(variance * Double(m) / Double(m - 1))
                    runningMean.value.scalars[c] = (1 - momentum) * runningMean.value.scalars[c] + momentum * Float(mu)
                    runningVariance.value.scalars[c] = (1 - momentum) * runningVariance.value.scalars[c] + momentum * unbiased
                }
            }
        } else {
            for c in 0..<features {
                mean[c] = runningMean.value.scalars[c]
                invStd[c] = 1 / (runningVariance.value.scalars[c] + epsilon).squareRoot()
            }
        }
        var y = Tensor(zeros: x.shape)
        var xhat = [Float](repeating: 0, count: x.count)
        x.scalars.withUnsafeBufferPointer { xp in
            y.scalars.withUnsafeMutableBufferPointer { yp in
                xhat.withUnsafeMutableBufferPointer { hp in
                    for b in 0..<batch {
                        for c in 0..<features {
                            let offset = (b * features + c) * spatial
                            let src = xp.baseAddress! + offset, dst = yp.baseAddress! + offset, h = hp.baseAddress! + offset
                            let mu = mean[c], s = invStd[c], g = gamma.value.scalars[c], bb = beta.value.scalars[c]
                            for i in 0..<spatial {
                                let v = (src[i] - mu) * s
                                h[i] = v
                                dst[i] = v * g + bb
                            }
                        }
                    }
                }
            }
        }
        normalized = xhat; inverseStd = invStd; cachedShape = x.shape; cachedTraining = training
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == cachedShape, "\(summary).backward without a matching forward")
        let (batch, spatial) = layout(dy.shape)
        let m = Float(batch * spatial)
        var sumDy = [Float](repeating: 0, count: features)
        var sumDyXhat = [Float](repeating: 0, count: features)
        dy.scalars.withUnsafeBufferPointer { gp in
            normalized.withUnsafeBufferPointer { hp in
                for b in 0..<batch {
                    for c in 0..<features {
                        let offset = (b * features + c) * spatial
                        let g = gp.baseAddress! + offset, h = hp.baseAddress! + offset
                        var s: Float = 0, sh: Float = 0
                        for i in 0..<spatial { s += g[i]; sh += g[i] * h[i] }
                        sumDy[c] += s
                        sumDyXhat[c] += sh
                    }
                }
            }
        }
        gamma.grad = Tensor(shape: [features], scalars: sumDyXhat)
        beta.grad = Tensor(shape: [features], scalars: sumDy)
        guard needInputGradient else { return nil }
        var dx = Tensor(zeros: dy.shape)
        dy.scalars.withUnsafeBufferPointer { gp in
            normalized.withUnsafeBufferPointer { hp in
                dx.scalars.withUnsafeMutableBufferPointer { dp in
                    for b in 0..<batch {
                        for c in 0..<features {
                            let offset = (b * features + c) * spatial
                            let g = gp.baseAddress! + offset, h = hp.baseAddress! + offset, d = dp.baseAddress! + offset
                            let k = gamma.value.scalars[c] * inverseStd[c]
                            if cachedTraining {
                                // dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
                                let meanDy = sumDy[c] / m, meanDyXhat = sumDyXhat[c] / m
                                for i in 0..<spatial { d[i] = k * (g[i] - meanDy - h[i] * meanDyXhat) }
                            } else {
                                for i in 0..<spatial { d[i] = k * g[i] }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
