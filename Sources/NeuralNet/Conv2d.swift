import Compute

/// 2-D convolution on oneDNN's primitives: its training convolution (forward, backward to input and weights) and
/// its inference one. The reference twin, im2col + one GEMM per group over the whole batch, runs where oneDNN has no
/// primitive and when `usesReferencePath` is set (tests compare the two). Groups split the channels into independent convolutions, as
/// PyTorch's `groups`: depthwise when groups == inChannels.
/// x: (batch, inChannels, h, w) -> (batch, outChannels, oh, ow); weight (out, in / groups, k, k), bias (out).
public final class Conv2d: Overridable {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    public let weight: Parameter, bias: Parameter
    /// The int8 runtime's kernel, calibration's recorder, or fake quantization for QAT.
    public var layerOverride: LayerOverride?
    private var geometry: ConvGeometry?
    private var cols: [Float] = []
    /// Forces im2col + GEMM for training and its backward pass.
    public var usesReferencePath = false
    /// The last inference input: backward after inference (saliency gradients) builds `cols` from it.
    private var input: Tensor?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                rng: inout SeededRandom) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d(\(inChannels) -> \(outChannels)): channels must divide by \(groups) groups")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.groups = groups
        let fanIn = inChannels / groups * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        func uniform(_ n: Int) -> [Float] { (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * bound } }
        weight = Parameter("weight", Tensor(shape: [outChannels, inChannels / groups, kernel, kernel],
                                            scalars: uniform(outChannels * fanIn)))
        bias = Parameter("bias", Tensor(shape: [outChannels], scalars: uniform(outChannels)))
    }

    public var summary: String {
        "Conv2d(\(inChannels) -> \(outChannels), k=\(kernel), stride=\(stride), pad=\(padding)"
            + (groups == 1 ? ")" : groups == inChannels ? ", depthwise)" : ", groups=\(groups))")
    }
    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        try Self.outputShape(for: input, inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
    }

    /// The shape rule without a layer: checking a module tree allocates nothing.
    public static func outputShape(for input: [Int], inChannels: Int, outChannels: Int, kernel: Int, stride: Int,
                                   padding: Int) throws -> [Int] {
        let name = "Conv2d(\(inChannels) -> \(outChannels), k=\(kernel), stride=\(stride), pad=\(padding))"
        guard input.count == 3, input[0] == inChannels else {
            throw NeuralNetError("\(name) expects input (\(inChannels), h, w), got \(input)")
        }
        let g = ConvGeometry(batch: 1, channels: input[0], height: input[1], width: input[2],
                             kernel: kernel, stride: stride, padding: padding)
        guard g.outHeight > 0, g.outWidth > 0 else {
            throw NeuralNetError("\(name): input \(input) is smaller than the kernel")
        }
        return [outChannels, g.outHeight, g.outWidth]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if let takeover = layerOverride { return takeover.forward(x, training: training) { self.ownForward($0, training: training) } }
        return ownForward(x, training: training)
    }

    private func ownForward(_ x: Tensor, training: Bool) -> Tensor {
        let outChannels = outChannels  // a local, so parallel closures capture a value, not self
        precondition(x.rank == 4 && x.shape[1] == inChannels, "\(summary): input \(x.shape)")
        let g = ConvGeometry(batch: x.shape[0], channels: inChannels, height: x.shape[2], width: x.shape[3],
                             kernel: kernel, stride: stride, padding: padding)
        if !training, let y = inference(x, g) {
            geometry = g; cols = []; input = x
            return y
        }
        if training, let primitive = trainingPrimitive(g) {
            geometry = g; cols = []; input = x
            return Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth],
                          scalars: primitive.forward(src: x.scalars, weights: weight.value.scalars, bias: bias.value.scalars))
        }
        let plane = g.outHeight * g.outWidth, n = g.columnCount
        let columns = Conv2d.im2col(x, g)
        let (groupOut, groupPatch) = (outChannels / groups, g.patchSize / groups)
        // Per group: product (out/G, batch * plane) = W_g (out/G, patch/G) x cols_g (patch/G, batch * plane); a
        // group's rows of W, cols and the product are contiguous.
        var product = [Float](repeating: 0, count: outChannels * n)
        weight.value.scalars.withUnsafeBufferPointer { w in
            columns.withUnsafeBufferPointer { c in
                product.withUnsafeMutableBufferPointer { p in
                    for group in 0..<groups {
                        GEMM.sgemm(.none, .none, m: groupOut, n: n, k: groupPatch,
                                   a: w.baseAddress! + group * groupOut * groupPatch, lda: groupPatch,
                                   b: c.baseAddress! + group * groupPatch * n, ldb: n,
                                   c: p.baseAddress! + group * groupOut * n, ldc: n)
                    }
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

    private func trainingPrimitive(_ g: ConvGeometry) -> ConvolutionTraining? {
        guard !usesReferencePath else { return nil }
        return ConvolutionTraining.cached(.init(batch: g.batch, channels: inChannels, height: g.height, width: g.width,
                                                outChannels: outChannels, groups: groups, kernel: kernel, stride: stride, padding: padding))
    }

    /// oneDNN's primitive for the geometry, or nil (then the GEMM path runs).
    private func inference(_ x: Tensor, _ g: ConvGeometry) -> Tensor? {
        guard let primitive = ConvolutionPrimitive.cached(.init(
            batch: g.batch, channels: inChannels, height: g.height, width: g.width, outChannels: outChannels, groups: groups,
            kernel: (kernel, kernel), stride: (stride, stride), pads: [padding, padding, padding, padding], hasBias: true)) else { return nil }
        return Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth],
                      scalars: primitive.run(src: x.scalars, weights: weight.value.scalars, bias: bias.value.scalars))
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        if let takeover = layerOverride {
            return takeover.backward(dy, needInputGradient: needInputGradient) { self.ownBackward($0, needInputGradient: needInputGradient) }
        }
        return ownBackward(dy, needInputGradient: needInputGradient)
    }

    private func ownBackward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let outChannels = outChannels
        guard let g = geometry, dy.shape == [g.batch, outChannels, g.outHeight, g.outWidth] else {
            preconditionFailure("\(summary).backward without a matching forward")
        }
        if cols.isEmpty, let input, let primitive = trainingPrimitive(g) {
            return primitive.backward(src: input.scalars, weights: weight.value.scalars, diffDst: dy.scalars,
                                      diffWeights: &weight.grad.scalars, diffBias: &bias.grad.scalars,
                                      needInputGradient: needInputGradient).map { Tensor(shape: input.shape, scalars: $0) }
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
        let (groupOut, groupPatch) = (outChannels / groups, g.patchSize / groups)
        dyT.withUnsafeBufferPointer { t in
            cols.withUnsafeBufferPointer { c in
                weight.grad.scalars.withUnsafeMutableBufferPointer { dw in
                    // Per group: dW_g (out/G, patch/G) = dyT_g (out/G, n) x cols_g^T (n, patch/G)
                    for group in 0..<groups {
                        GEMM.sgemm(.none, .transposed, m: groupOut, n: groupPatch, k: n,
                                   a: t.baseAddress! + group * groupOut * n, lda: n,
                                   b: c.baseAddress! + group * groupPatch * n, ldb: n,
                                   c: dw.baseAddress! + group * groupOut * groupPatch, ldc: groupPatch)
                    }
                }
            }
        }
        guard needInputGradient else { return nil }
        var dcols = [Float](repeating: 0, count: g.patchSize * n)
        weight.value.scalars.withUnsafeBufferPointer { w in
            dyT.withUnsafeBufferPointer { t in
                dcols.withUnsafeMutableBufferPointer { dc in
                    // Per group: dcols_g (patch/G, n) = W_g^T (patch/G, out/G) x dyT_g (out/G, n)
                    for group in 0..<groups {
                        GEMM.sgemm(.transposed, .none, m: groupPatch, n: n, k: groupOut,
                                   a: w.baseAddress! + group * groupOut * groupPatch, lda: groupPatch,
                                   b: t.baseAddress! + group * groupOut * n, ldb: n,
                                   c: dc.baseAddress! + group * groupPatch * n, ldc: n)
                    }
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
