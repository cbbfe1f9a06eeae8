import Compute

/// Average pooling with a square window, no padding, as PyTorch's `nn.AvgPool2d(k)`. (batch, c, h, w) -> (batch, c,
/// oh, ow); each output is the mean of its k x k window, so each input in a window gets 1/k^2 of its gradient.
public final class AvgPool2d: Layer {
    public let kernel: Int
    private var inputShape: [Int] = []

    public init(kernel: Int) { self.kernel = kernel }

    public var summary: String { "AvgPool2d(k=\(kernel))" }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3, input[1] >= kernel, input[2] >= kernel else {
            throw NeuralNetError("\(summary) expects input (c, h, w) of at least \(kernel)x\(kernel), got \(input)")
        }
        return [input[0], input[1] / kernel, input[2] / kernel]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 4, "\(summary): input \(x.shape)")
        let (h, w, k) = (x.shape[2], x.shape[3], kernel)
        let (oh, ow) = (h / k, w / k)
        var y = Tensor(zeros: [x.shape[0], x.shape[1], oh, ow])
        let scale = 1 / Float(k * k)
        x.scalars.withUnsafeBufferPointer { xp in
            y.scalars.withUnsafeMutableBufferPointer { yp in
                let src = xp.baseAddress!, dst = yp.baseAddress!
                Parallel.forEachChunk(x.shape[0] * x.shape[1], minimumChunk: max(1, (1 << 14) / max(h * w, 1))) { planes in
                    for plane in planes {
                        let from = src + plane * h * w, to = dst + plane * oh * ow
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var sum: Float = 0
                                for dy in 0..<k { for dx in 0..<k { sum += from[(oy * k + dy) * w + ox * k + dx] } }
                                to[oy * ow + ox] = sum * scale
                            }
                        }
                    }
                }
            }
        }
        inputShape = x.shape
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(inputShape.count == 4, "\(summary).backward without a matching forward")
        let (h, w, k) = (inputShape[2], inputShape[3], kernel)
        let (oh, ow) = (h / k, w / k)
        precondition(dy.shape == [inputShape[0], inputShape[1], oh, ow], "\(summary).backward without a matching forward")
        var dx = Tensor(zeros: inputShape)
        let scale = 1 / Float(k * k)
        for plane in 0..<(inputShape[0] * inputShape[1]) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = dy.scalars[(plane * oh + oy) * ow + ox] * scale
                    for ky in 0..<k { for kx in 0..<k { dx.scalars[plane * h * w + (oy * k + ky) * w + ox * k + kx] = g } }
                }
            }
        }
        return dx
    }
}

/// The mean of each channel over its whole plane, as `nn.AdaptiveAvgPool2d(1)`: (batch, c, h, w) -> (batch, c, 1, 1).
public final class GlobalAvgPool2d: Layer {
    private var inputShape: [Int] = []
    public init() {}
    public var summary: String { "GlobalAvgPool2d" }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3 else { throw NeuralNetError("\(summary) expects input (c, h, w), got \(input)") }
        return [input[0], 1, 1]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 4, "\(summary): input \(x.shape)")
        let planes = x.shape[0] * x.shape[1], area = x.shape[2] * x.shape[3]
        var y = Tensor(zeros: [x.shape[0], x.shape[1], 1, 1])
        guard area > 0 else { return y }
        x.scalars.withUnsafeBufferPointer { xp in
            for plane in 0..<planes {
                var sum: Float = 0
                for i in 0..<area { sum += xp[plane * area + i] }
                y.scalars[plane] = sum / Float(area)
            }
        }
        inputShape = x.shape
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(inputShape.count == 4 && dy.count == inputShape[0] * inputShape[1],
                     "\(summary).backward without a matching forward")
        let area = inputShape[2] * inputShape[3]
        var dx = Tensor(zeros: inputShape)
        dx.scalars.withUnsafeMutableBufferPointer { out in
            for plane in 0..<dy.count {
                (out.baseAddress! + plane * area).update(repeating: dy.scalars[plane] / Float(area), count: area)
            }
        }
        return dx
    }
}
