/// The shapes of a 2-D convolution or pooling window over NCHW input.
public struct ConvGeometry: Sendable, Equatable {
    public var batch: Int, channels: Int, height: Int, width: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var stride: Int, padding: Int

    public init(batch: Int, channels: Int, height: Int, width: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernel; self.kernelWidth = kernel
        self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the im2col matrix: channels * kh * kw.
    public var patchSize: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the im2col matrix: batch * outHeight * outWidth.
    public var columnCount: Int { batch * outHeight * outWidth }
}

/// im2col / col2im for convolution as one GEMM over the whole batch.
/// cols is (channels * kh * kw, batch * oh * ow); x is (batch, channels, height, width).
public enum Im2Col {
    public static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>) {
        let oh = g.outHeight, ow = g.outWidth, plane = oh * ow
        let n = g.columnCount, k = g.kernelHeight * g.kernelWidth
        // Each row of cols is one (channel, kh, kw): rows are independent.
        Parallel.forEachChunk(g.patchSize, minimumChunk: 1) { rows in
            for patchRow in rows {
                let c = patchRow / k, kh = patchRow % k / g.kernelWidth, kw = patchRow % g.kernelWidth
                let row = cols + patchRow * n
                for b in 0..<g.batch {
                    let src = x + (b * g.channels + c) * g.height * g.width
                    let dst = row + b * plane
                    for y in 0..<oh {
                        let iy = y * g.stride - g.padding + kh
                        let out = dst + y * ow
                        guard iy >= 0 && iy < g.height else {
                            out.update(repeating: 0, count: ow)
                            continue
                        }
                        let line = src + iy * g.width
                        for xo in 0..<ow {
                            let ix = xo * g.stride - g.padding + kw
                            out[xo] = (ix >= 0 && ix < g.width) ? line[ix] : 0
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `forward`: adds each column entry back into dx (which must start zeroed).
    public static func backward(_ g: ConvGeometry, cols: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let oh = g.outHeight, ow = g.outWidth, plane = oh * ow
        let n = g.columnCount
        // Rows of one channel all add into that channel's planes of dx: split the work by channel.
        Parallel.forEachChunk(g.channels, minimumChunk: 1) { channels in
            for c in channels {
                for kh in 0..<g.kernelHeight {
                    for kw in 0..<g.kernelWidth {
                        let row = cols + ((c * g.kernelHeight + kh) * g.kernelWidth + kw) * n
                        for b in 0..<g.batch {
                            let dst = dx + (b * g.channels + c) * g.height * g.width
                            let src = row + b * plane
                            for y in 0..<oh {
                                let iy = y * g.stride - g.padding + kh
                                guard iy >= 0 && iy < g.height else { continue }
                                let line = dst + iy * g.width
                                let input = src + y * ow
                                for xo in 0..<ow {
                                    let ix = xo * g.stride - g.padding + kw
                                    if ix >= 0 && ix < g.width { line[ix] += input[xo] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Direct convolution, the oracle for the im2col path.
public enum ReferenceConv2d {
    /// x: (b, c, h, w), weight: (oc, c, k, k), bias: (oc) -> (b, oc, oh, ow)
    public static func forward(_ g: ConvGeometry, x: [Float], weight: [Float], bias: [Float], outChannels: Int) -> [Float] {
        let oh = g.outHeight, ow = g.outWidth
        var out = [Float](repeating: 0, count: g.batch * outChannels * oh * ow)
        for b in 0..<g.batch {
            for o in 0..<outChannels {
                for y in 0..<oh {
                    for xo in 0..<ow {
                        var sum = Double(bias[o])
                        for c in 0..<g.channels {
                            for kh in 0..<g.kernelHeight {
                                for kw in 0..<g.kernelWidth {
                                    let iy = y * g.stride - g.padding + kh
                                    let ix = xo * g.stride - g.padding + kw
                                    guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
                                    let xv = x[((b * g.channels + c) * g.height + iy) * g.width + ix]
                                    let wv = weight[((o * g.channels + c) * g.kernelHeight + kh) * g.kernelWidth + kw]
                                    sum += Double(xv) * Double(wv)
                                }
                            }
                        }
                        out[((b * outChannels + o) * oh + y) * ow + xo] = Float(sum)
                    }
                }
            }
        }
        return out
    }
}
