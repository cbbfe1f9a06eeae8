import Compute

// The int8 runtime's passes over uint8 NHWC activations.
extension Int8Network {
    /// One GEMM plus the fused epilogue; writes `logits` for the last layer, else returns the next uint8 activations.
    static func run(_ gemm: Gemm, _ a: [UInt8], rows: Int, logits: inout Tensor) -> [UInt8] {
        let n = gemm.outFeatures
        var accumulators = [Int32](repeating: 0, count: rows * n)
        a.withUnsafeBufferPointer { ap in
            gemm.weights.withUnsafeBufferPointer { wp in
                accumulators.withUnsafeMutableBufferPointer { cp in
                    Int8GEMM.u8s8s32(.none, .transposed, m: rows, n: n, k: gemm.inFeatures, a: ap.baseAddress!, lda: gemm.inFeatures,
                                     aZero: gemm.inputZero, b: wp.baseAddress!, ldb: gemm.inFeatures, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        let chunk = max(1, (1 << 15) / max(n, 1))
        guard gemm.outputsBytes else {
            accumulators.withUnsafeBufferPointer { cp in
                logits.scalars.withUnsafeMutableBufferPointer { out in
                    gemm.multiplier.withUnsafeBufferPointer { mp in
                        gemm.offset.withUnsafeBufferPointer { fp in
                            let c = cp.baseAddress!, o = out.baseAddress!, m = mp.baseAddress!, f = fp.baseAddress!
                            Parallel.forEachChunk(rows, minimumChunk: chunk) { range in
                                for r in range { for j in 0..<n { o[r * n + j] = Float(c[r * n + j]) * m[j] + f[j] } }
                            }
                        }
                    }
                }
            }
            return []
        }
        var out = [UInt8](repeating: 0, count: rows * n)
        accumulators.withUnsafeBufferPointer { cp in
            out.withUnsafeMutableBufferPointer { op in
                gemm.multiplier.withUnsafeBufferPointer { mp in
                    gemm.offset.withUnsafeBufferPointer { fp in
                        let c = cp.baseAddress!, o = op.baseAddress!, m = mp.baseAddress!, f = fp.baseAddress!
                        Parallel.forEachChunk(rows, minimumChunk: chunk) { range in
                            for r in range {
                                // Clamping at 0 is the ReLU: the next layer's grid starts at zero.
                                let row = c + r * n, out = o + r * n
                                for j in 0..<n { out[j] = roundToByte(Float(row[j]) * m[j] + f[j]) }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// NHWC uint8 -> (batch * oh * ow, kernel * kernel * channels), out-of-image taps filled with the zero point.
    static func im2row(_ x: [UInt8], batch: Int, shape: (height: Int, width: Int, channels: Int),
                               kernel: Int, stride: Int, padding: Int, fill: UInt8) -> [UInt8] {
        let oh = (shape.height + 2 * padding - kernel) / stride + 1, ow = (shape.width + 2 * padding - kernel) / stride + 1
        let channels = shape.channels, patch = kernel * kernel * channels, span = kernel * channels
        var rows = [UInt8](repeating: fill, count: batch * oh * ow * patch)
        x.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEachChunk(batch, minimumChunk: max(1, (1 << 14) / max(oh * ow * patch, 1))) { samples in
                    for b in samples {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let row = d + ((b * oh + oy) * ow + ox) * patch
                                for ky in 0..<kernel {
                                    let iy = oy * stride - padding + ky
                                    guard iy >= 0 && iy < shape.height else { continue }
                                    let ix0 = ox * stride - padding
                                    let src = s + ((b * shape.height + iy) * shape.width) * channels, to = row + ky * span
                                    if ix0 >= 0 && ix0 + kernel <= shape.width {
                                        copyBytes(src + ix0 * channels, to, span)  // the kernel row is one contiguous run
                                    } else {
                                        for kx in 0..<kernel where ix0 + kx >= 0 && ix0 + kx < shape.width {
                                            copyBytes(src + (ix0 + kx) * channels, to + kx * channels, channels)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return rows
    }

    static func maxPool(_ x: [UInt8], batch: Int, shape: (height: Int, width: Int, channels: Int), kernel: Int) -> [UInt8] {
        let oh = shape.height / kernel, ow = shape.width / kernel, channels = shape.channels
        var out = [UInt8](repeating: 0, count: batch * oh * ow * channels)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEachChunk(batch, minimumChunk: max(1, (1 << 15) / max(shape.height * shape.width * channels, 1))) { samples in
                    for b in samples {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let o = d + ((b * oh + oy) * ow + ox) * channels
                                for ky in 0..<kernel {
                                    for kx in 0..<kernel {
                                        let i = s + ((b * shape.height + oy * kernel + ky) * shape.width + ox * kernel + kx) * channels
                                        for c in 0..<channels { o[c] = max(o[c], i[c]) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// round(v) for v in 0...255 without a trapping conversion, so the loops vectorize: adding 2^23 leaves the rounded
/// integer in the low mantissa bits.
@inline(__always) func roundToByte(_ v: Float) -> UInt8 {
    UInt8(truncatingIfNeeded: (min(max(v, 0), 255) + 8_388_608).bitPattern)
}

/// Short copies inline; memmove's call costs more than moving a few bytes.
@inline(__always) private func copyBytes(_ from: UnsafePointer<UInt8>, _ to: UnsafeMutablePointer<UInt8>, _ count: Int) {
    if count > 32 { to.update(from: from, count: count); return }
    for i in 0..<count { to[i] = from[i] }
}
