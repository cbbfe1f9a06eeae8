import Compute

/// Max pooling with a square window, no padding. (batch, c, h, w) -> (batch, c, oh, ow).
public final class MaxPool2d: Layer {
    public let kernel: Int, stride: Int
    private var inputShape: [Int] = []
    private var cachedGeometry: ConvGeometry?
    private var argmax: [Int32] = []

    public init(kernel: Int = 2, stride: Int? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public var summary: String { "MaxPool2d(k=\(kernel), stride=\(stride))" }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3, input[1] >= kernel, input[2] >= kernel else {
            throw NeuralNetError("\(summary) expects input (c, h, w) of at least \(kernel)x\(kernel), got \(input)")
        }
        let g = geometry(batch: 1, input)
        return [input[0], g.outHeight, g.outWidth]
    }

    private func geometry(batch: Int, _ s: [Int]) -> ConvGeometry {
        ConvGeometry(batch: batch, channels: s[0], height: s[1], width: s[2], kernel: kernel, stride: stride)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 4, "\(summary): input \(x.shape)")
        let g = geometry(batch: x.shape[0], Array(x.shape.dropFirst()))
        precondition(x.count < Int(Int32.max), "\(summary): input too large for 32-bit window indices")
        var y = Tensor(zeros: [g.batch, g.channels, g.outHeight, g.outWidth])
        var winners = [Int32](repeating: 0, count: y.count)
        guard y.count > 0 else { return y }
        x.scalars.withUnsafeBufferPointer { xp in
            y.scalars.withUnsafeMutableBufferPointer { yp in
                winners.withUnsafeMutableBufferPointer { a in
                    MaxPoolKernel.forward(g, x: xp.baseAddress!, y: yp.baseAddress!, argmax: a.baseAddress!)
                }
            }
        }
        inputShape = x.shape; cachedGeometry = g; argmax = winners
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard let g = cachedGeometry, argmax.count == dy.count else {
            preconditionFailure("\(summary).backward without a matching forward")
        }
        var dx = Tensor(zeros: inputShape)
        dy.scalars.withUnsafeBufferPointer { d in
            argmax.withUnsafeBufferPointer { a in
                dx.scalars.withUnsafeMutableBufferPointer { out in
                    MaxPoolKernel.backward(g, dy: d.baseAddress!, argmax: a.baseAddress!, dx: out.baseAddress!)
                }
            }
        }
        return dx
    }
}
