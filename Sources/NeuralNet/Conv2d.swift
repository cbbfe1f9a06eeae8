import Compute

/// 2-D convolution as im2col + one GEMM over the whole batch (training), or oneDNN's convolution primitive
/// (inference: teachers, evaluation).
/// x: (batch, inChannels, h, w) -> (batch, outChannels, oh, ow); weight (out, in, k, k), bias (out).
public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter, bias: Parameter
    private var geometry: ConvGeometry?
    private var cols: [Float] = []
    /// The last inference input: backward after inference (saliency gradients) builds `cols` from it.
    private var input: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                rng: inout SeededRandom) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let fanIn = inChannels * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        func uniform(_ n: Int) -> [Float] { (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * bound } }
        weight = Parameter("weight", Tensor(shape: [outChannels, inChannels, kernel, kernel],
                                            scalars: uniform(outChannels * fanIn)))
        bias = Parameter("bias", Tensor(shape: [outChannels], scalars: uniform(outChannels)))
    }

    public var summary: String {
        "Conv2d(\(inChannels) -> \(outChannels), k=\(kernel), stride=\(stride), pad=\(padding))"
    }
    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        guard input.count == 3, input[0] == inChannels else {
            throw NeuralNetError("\(summary) expects input (\(inChannels), h, w), got \(input)")
        }
        let g = ConvGeometry(batch: 1, channels: input[0], height: input[1], width: input[2],
                             kernel: kernel, stride: stride, padding: padding)
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw NeuralNetError("\(summary): input \(input) is smaller than the kernel")
        }
        return [outChannels, g.outHeight, g.outWidth]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let outChannels = outChannels  // a local, so parallel closures capture a value, not self
        precondition(x.rank == 4 && x.shape[1] == inChannels, "\(summary): input \(x.shape)")
        let g = ConvGeometry(batch: x.shape[0], channels: inChannels, height: x.shape[2], width: x.shape[3],
                             kernel: kernel, stride: stride, padding: padding)
        if !training, let y = inference(x, g) {
            geometry = g; cols = []; input = x
            return y
        }
        let plane = g.outHeight * g.outWidth, n = g.columnCount
        let columns = Conv2d.im2col(x, g)
        // product (out, batch * plane) = W (out, patch) x cols (patch, batch * plane)
        var product = [Float](repeating: 0, count: outChannels * n)
        weight.value.scalars.withUnsafeBufferPointer { w in
            columns.withUnsafeBufferPointer { c in
                product.withUnsafeMutableBufferPointer { p in
                    GEMM.sgemm(.none, .none, m: outChannels, n: n, k: g.patchSize, a: w.baseAddress!, lda: g.patchSize,
                               b: c.baseAddress!, ldb: n, c: p.baseAddress!, ldc: n)
                }
            }
        }
        var y = Tensor(zeros: [g.batch, outChannels, g.outHeight, g.outWidth])
        y.scalars.withUnsafeMutableBufferPointer { out in
            product.withUnsafeBufferPointer { p in
                bias.value.scalars.withUnsafeBufferPointer { b in
                    let src = p.baseAddress!, dst = out.baseAddress!, bp = b.baseAddress!
                    // (out, batch * plane) -> (batch, out, plane) plus bias; samples are independent.
                    Parallel.forEachChunk(g.batch, minimumChunk: max(1, (1 << 15) / max(outChannels * plane, 1))) { samples in
                        for bi in samples {
                            for o in 0..<outChannels {
                                let from = src + o * n + bi * plane, to = dst + (bi * outChannels + o) * plane
                                let bo = bp[o]
                                for i in 0..<plane { to[i] = from[i] + bo }
                            }
                        }
                    }
                }
            }
        }
        geometry = g; cols = columns; input = nil
        return y
    }

    private static func im2col(_ x: Tensor, _ g: ConvGeometry) -> [Float] {
        var columns = [Float](repeating: 0, count: g.patchSize * g.columnCount)
        x.scalars.withUnsafeBufferPointer { xp in
            columns.withUnsafeMutableBufferPointer { c in Im2Col.forward(g, x: xp.baseAddress!, cols: c.baseAddress!) }
        }
        return columns
    }

    /// oneDNN's primitive for the geometry, or nil (then the GEMM path runs).
    private func inference(_ x: Tensor, _ g: ConvGeometry) -> Tensor? {
        guard let primitive = ConvolutionPrimitive.cached(.init(
            batch: g.batch, channels: inChannels, height: g.height, width: g.width, outChannels: outChannels,
            kernel: (kernel, kernel), stride: (stride, stride), pads: [padding, padding, padding, padding], hasBias: true)) else { return nil }
        return Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth],
                      scalars: primitive.run(src: x.scalars, weights: weight.value.scalars, bias: bias.value.scalars))
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let outChannels = outChannels
        guard let g = geometry, dy.shape == [g.batch, outChannels, g.outHeight, g.outWidth] else {
            preconditionFailure("\(summary).backward without a matching forward")
        }
        if cols.isEmpty, let input { cols = Conv2d.im2col(input, g) }
        let plane = g.outHeight * g.outWidth, n = g.columnCount
        // dyT: (out, batch * plane), the GEMM layout of dy.
        var dyT = [Float](repeating: 0, count: outChannels * n)
        dy.scalars.withUnsafeBufferPointer { d in
            dyT.withUnsafeMutableBufferPointer { t in
                let src = d.baseAddress!, dst = t.baseAddress!
                Parallel.forEachChunk(g.batch, minimumChunk: max(1, (1 << 15) / max(outChannels * plane, 1))) { samples in
                    for bi in samples {
                        for o in 0..<outChannels {
                            (dst + o * n + bi * plane).update(from: src + (bi * outChannels + o) * plane, count: plane)
                        }
                    }
                }
            }
        }
        bias.grad.scalars.withUnsafeMutableBufferPointer { db in
            dyT.withUnsafeBufferPointer { MatrixSums.rows($0.baseAddress!, rows: outChannels, columns: n, into: db.baseAddress!) }
        }
        dyT.withUnsafeBufferPointer { t in
            cols.withUnsafeBufferPointer { c in
                weight.grad.scalars.withUnsafeMutableBufferPointer { dw in
                    // dW (out, patch) = dyT (out, n) x cols^T (n, patch)
                    GEMM.sgemm(.none, .transposed, m: outChannels, n: g.patchSize, k: n, a: t.baseAddress!, lda: n,
                               b: c.baseAddress!, ldb: n, c: dw.baseAddress!, ldc: g.patchSize)
                }
            }
        }
        guard needInputGradient else { return nil }
        var dcols = [Float](repeating: 0, count: g.patchSize * n)
        weight.value.scalars.withUnsafeBufferPointer { w in
            dyT.withUnsafeBufferPointer { t in
                dcols.withUnsafeMutableBufferPointer { dc in
                    // dcols (patch, n) = W^T (patch, out) x dyT (out, n)
                    GEMM.sgemm(.transposed, .none, m: g.patchSize, n: n, k: outChannels, a: w.baseAddress!,
                               lda: g.patchSize, b: t.baseAddress!, ldb: n, c: dc.baseAddress!, ldc: n)
                }
            }
        }
        var dx = Tensor(zeros: [g.batch, inChannels, g.height, g.width])
        dcols.withUnsafeBufferPointer { dc in
            dx.scalars.withUnsafeMutableBufferPointer { out in Im2Col.backward(g, cols: dc.baseAddress!, dx: out.baseAddress!) }
        }
        return dx
    }
}
