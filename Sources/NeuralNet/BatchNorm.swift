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
    /// Training forwards seen, as PyTorch's `num_batches_tracked` (a fixed momentum never reads it; checkpoints
    /// keep it so a PyTorch module loads ours with strict names).
    public var batchesTracked: Int64 = 0

    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.features = features; self.epsilon = epsilon; self.momentum = momentum
        gamma = Parameter("weight", Tensor(repeating: 1, shape: [features]))
        beta = Parameter("bias", Tensor(zeros: [features]))
        runningMean = Parameter("running_mean", Tensor(zeros: [features]), trainable: false)
        runningVariance = Parameter("running_var", Tensor(repeating: 1, shape: [features]), trainable: false)
    }

    public var summary: String { "BatchNorm(\(features))" }
    public var parameters: [Parameter] { [gamma, beta, runningMean, runningVariance] }

    public func outputShape(for input: [Int]) throws -> [Int] { try Self.outputShape(for: input, features: features) }

    /// The shape rule without a layer: checking a module tree allocates nothing.
    public static func outputShape(for input: [Int], features: Int) throws -> [Int] {
        guard input.first == features, input.count == 1 || input.count == 3 else {
            throw NeuralNetError("BatchNorm(\(features)) expects input (\(features)) or (\(features), h, w), got \(input)")
        }
        return input
    }

    /// (batch, channels, spatial) view of the input.
    private func layout(_ shape: [Int]) -> (batch: Int, spatial: Int) {
        (shape[0], shape.count > 2 ? shape[2...].reduce(1, *) : 1)
    }

    /// Channels per parallel chunk: enough values that waking a thread pays.
    private func channelChunk(_ valuesPerChannel: Int) -> Int { max(1, (1 << 15) / max(valuesPerChannel, 1)) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == features, "\(summary): input \(x.shape)")
        let (batch, spatial) = layout(x.shape)
        let m = batch * spatial
        let features = features, epsilon = epsilon, momentum = momentum
        var mean = [Float](repeating: 0, count: features)
        var invStd = [Float](repeating: 0, count: features)
        if training {
            batchesTracked += 1
            precondition(m > 1, "\(summary): training needs more than one value per channel, got \(x.shape)")
            x.scalars.withUnsafeBufferPointer { xp in
                mean.withUnsafeMutableBufferPointer { meanP in
                    invStd.withUnsafeMutableBufferPointer { invP in
                        runningMean.value.scalars.withUnsafeMutableBufferPointer { rm in
                            runningVariance.value.scalars.withUnsafeMutableBufferPointer { rv in
                                let src = xp.baseAddress!
                                // Channels are independent: each chunk owns its slots of every array.
                                Parallel.forEachChunk(features, minimumChunk: channelChunk(m)) { channels in
                                    for c in channels {
                                        var sum: Double = 0, sumSquares: Double = 0
                                        for b in 0..<batch {
                                            let plane = src + (b * features + c) * spatial
                                            var s: Float = 0, q: Float = 0
                                            for i in 0..<spatial { s += plane[i]; q += plane[i] * plane[i] }
                                            sum += Double(s); sumSquares += Double(q)
                                        }
                                        let mu = sum / Double(m)
                                        let variance = max(sumSquares / Double(m) - mu * mu, 0)
                                        meanP[c] = Float(mu)
                                        invP[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
                                        let unbiased = Float(variance * Double(m) / Double(m - 1))
                                        rm[c] = (1 - momentum) * rm[c] + momentum * Float(mu)
                                        rv[c] = (1 - momentum) * rv[c] + momentum * unbiased
                                    }
                                }
                            }
                        }
                    }
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
        let g = gamma.value.scalars, bias = beta.value.scalars
        x.scalars.withUnsafeBufferPointer { xp in
            y.scalars.withUnsafeMutableBufferPointer { yp in
                xhat.withUnsafeMutableBufferPointer { hp in
                    let src = xp.baseAddress!, dst = yp.baseAddress!, h = hp.baseAddress!
                    Parallel.forEachChunk(features, minimumChunk: channelChunk(m)) { channels in
                        for c in channels {
                            let mu = mean[c], s = invStd[c], scale = g[c], shift = bias[c]
                            for b in 0..<batch {
                                let offset = (b * features + c) * spatial
                                for i in offset..<(offset + spatial) {
                                    let v = (src[i] - mu) * s
                                    h[i] = v
                                    dst[i] = v * scale + shift
                                }
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
        let features = features, m = batch * spatial
        var sumDy = [Float](repeating: 0, count: features)
        var sumDyXhat = [Float](repeating: 0, count: features)
        dy.scalars.withUnsafeBufferPointer { gp in
            normalized.withUnsafeBufferPointer { hp in
                sumDy.withUnsafeMutableBufferPointer { sd in
                    sumDyXhat.withUnsafeMutableBufferPointer { sdh in
                        let g = gp.baseAddress!, h = hp.baseAddress!
                        Parallel.forEachChunk(features, minimumChunk: channelChunk(m)) { channels in
                            for c in channels {
                                var s: Float = 0, sh: Float = 0
                                for b in 0..<batch {
                                    let offset = (b * features + c) * spatial
                                    for i in offset..<(offset + spatial) { s += g[i]; sh += g[i] * h[i] }
                                }
                                sd[c] = s
                                sdh[c] = sh
                            }
                        }
                    }
                }
            }
        }
        gamma.grad = Tensor(shape: [features], scalars: sumDyXhat)
        beta.grad = Tensor(shape: [features], scalars: sumDy)
        guard needInputGradient else { return nil }
        var dx = Tensor(zeros: dy.shape)
        let training = cachedTraining, count = Float(m)
        let k = (0..<features).map { gamma.value.scalars[$0] * inverseStd[$0] }
        dy.scalars.withUnsafeBufferPointer { gp in
            normalized.withUnsafeBufferPointer { hp in
                dx.scalars.withUnsafeMutableBufferPointer { dp in
                    let g = gp.baseAddress!, h = hp.baseAddress!, d = dp.baseAddress!
                    Parallel.forEachChunk(features, minimumChunk: channelChunk(m)) { channels in
                        for c in channels {
                            // training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
                            let meanDy = training ? sumDy[c] / count : 0
                            let meanDyXhat = training ? sumDyXhat[c] / count : 0
                            for b in 0..<batch {
                                let offset = (b * features + c) * spatial
                                for i in offset..<(offset + spatial) { d[i] = k[c] * (g[i] - meanDy - h[i] * meanDyXhat) }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
