/// Max pooling over NCHW input with square windows and no padding.
public enum MaxPoolKernel {
    /// x: (b, c, h, w) -> y: (b, c, oh, ow); argmax records each window's winner as an offset into x.
    public static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                               argmax: UnsafeMutablePointer<Int32>) {
        let oh = g.outHeight, ow = g.outWidth
        Parallel.forEachChunk(g.batch * g.channels, minimumChunk: 64) { planes in
        for plane in planes {
            let src = plane * g.height * g.width
            let dst = plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity
                    var bestIndex = src + (oy * g.stride) * g.width + ox * g.stride
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.stride + ky
                        for kx in 0..<g.kernelWidth {
                            let index = src + iy * g.width + ox * g.stride + kx
                            let v = x[index]
                            // `!(v <= best)` also lets a NaN win, so NaNs propagate as in PyTorch.
                            if !(v <= best) { best = v; bestIndex = index }
                        }
                    }
                    y[dst + oy * ow + ox] = best
                    argmax[dst + oy * ow + ox] = Int32(bestIndex)
                }
            }
        }
        }
    }

    /// Routes each output gradient to its window's winner; dx must start zeroed.
    /// Windows of one plane only reach that plane, so planes are split between threads.
    public static func backward(_ g: ConvGeometry, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                dx: UnsafeMutablePointer<Float>) {
        let plane = g.outHeight * g.outWidth
        Parallel.forEachChunk(g.batch * g.channels, minimumChunk: 64) { planes in
            for i in (planes.lowerBound * plane)..<(planes.upperBound * plane) { dx[Int(argmax[i])] += dy[i] }
        }
    }
}
