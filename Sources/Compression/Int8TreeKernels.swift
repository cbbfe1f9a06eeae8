import Compute
import NeuralNet

/// The tree runtime's passes over activations: quantizing onto a grid (NCHW floats to NHWC bytes), back to float,
/// requantizing adds, clamps and per-channel means on the bytes.
enum Int8TreeKernels {
    /// Row-major floats onto `grid`, same order.
    static func quantize(_ x: [Float], _ grid: ActivationQuantization) -> [UInt8] {
        let inverse = 1 / grid.scale, zero = Float(grid.zero)
        var out = [UInt8](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEachChunk(x.count) { range in
                    for i in range { d[i] = roundToByte(s[i] * inverse + zero) }
                }
            }
        }
        return out
    }

    /// NCHW floats onto `grid`, as NHWC bytes: oneDNN's reorder moves the axes (a strided loop here cost a fifth
    /// of a MobileNet's int8 inference), then one contiguous pass rounds.
    static func quantizeToNHWC(_ x: Tensor, _ grid: ActivationQuantization) -> [UInt8] {
        let (batch, channels, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        guard channels > 1 && plane > 1 else { return quantize(x.scalars, grid) }
        let nhwc = AxisPermutation.cached(.init(dimensions: [batch, channels, plane], sourceStrides: [channels * plane, plane, 1],
                                                destinationStrides: [channels * plane, 1, channels]))
        return quantize(nhwc(x.scalars), grid)
    }

    /// NHWC floats as NCHW, by oneDNN's reorder.
    static func nchw(fromNHWC x: [Float], batch: Int, channels: Int, plane: Int) -> [Float] {
        guard channels > 1 && plane > 1 else { return x }
        let permutation = AxisPermutation.cached(.init(dimensions: [batch, channels, plane], sourceStrides: [channels * plane, 1, channels],
                                                       destinationStrides: [channels * plane, plane, 1]))
        return permutation(x)
    }

    static func dequantize(_ q: [UInt8], _ grid: ActivationQuantization) -> [Float] {
        let scale = grid.scale, zero = Float(grid.zero)
        return [Float](unsafeUninitializedCapacity: q.count) { out, initialized in
            q.withUnsafeBufferPointer { src in
                let s = src.baseAddress!, d = out.baseAddress!
                Parallel.forEachChunk(q.count) { range in for i in range { d[i] = (Float(s[i]) - zero) * scale } }
            }
            initialized = q.count
        }
    }

    /// Same-shape byte tensors on their grids, summed onto `grid`: round(sum of s_i (q_i - z_i) / s) + z, clamped
    /// (one input: a requantization).
    static func add(_ inputs: [([UInt8], ActivationQuantization)], onto grid: ActivationQuantization) -> [UInt8] {
        let count = inputs[0].0.count
        let factors = inputs.map { $0.1.scale / grid.scale }
        let offset = Float(grid.zero) - zip(inputs, factors).reduce(Float(0)) { $0 + Float($1.0.1.zero) * $1.1 }
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            let d = dst.baseAddress!
            inputs[0].0.withUnsafeBufferPointer { a in
                let x = a.baseAddress!, fx = factors[0]
                guard inputs.count > 1 else {
                    Parallel.forEachChunk(count) { range in for i in range { d[i] = roundToByte(Float(x[i]) * fx + offset) } }
                    return
                }
                inputs[1].0.withUnsafeBufferPointer { b in
                    let y = b.baseAddress!, fy = factors[1]
                    guard inputs.count > 2 else {
                        Parallel.forEachChunk(count) { range in for i in range { d[i] = roundToByte(Float(x[i]) * fx + Float(y[i]) * fy + offset) } }
                        return
                    }
                    var sums = [Float](repeating: offset, count: count)
                    for (q, f) in zip(inputs.map(\.0), factors) { for i in 0..<count { sums[i] += Float(q[i]) * f } }
                    for i in 0..<count { d[i] = roundToByte(sums[i]) }
                }
            }
        }
        return out
    }

    static func clamp(_ q: [UInt8], low: UInt8, high: UInt8) -> [UInt8] {
        guard low > 0 || high < 255 else { return q }
        return q.map { min(max($0, low), high) }
    }

    /// Per (sample, channel) the mean of NHWC bytes, as float (batch, channels, 1, 1).
    static func channelMeans(_ q: [UInt8], _ grid: ActivationQuantization, shape: [Int]) -> Tensor {
        let (batch, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
        var y = Tensor(zeros: [batch, channels, 1, 1])
        var sums = [Int32](repeating: 0, count: channels)
        q.withUnsafeBufferPointer { src in
            for b in 0..<batch {
                for c in 0..<channels { sums[c] = 0 }
                for p in 0..<plane {
                    let row = src.baseAddress! + (b * plane + p) * channels
                    for c in 0..<channels { sums[c] += Int32(row[c]) }
                }
                for c in 0..<channels { y.scalars[b * channels + c] = (Float(sums[c]) / Float(plane) - Float(grid.zero)) * grid.scale }
            }
        }
        return y
    }

    /// The channels `range` of NHWC bytes with `count` channels, contiguous.
    static func channels(_ x: [UInt8], count: Int, range: Range<Int>) -> [UInt8] {
        let pixels = x.count / count
        var out = [UInt8](repeating: 0, count: pixels * range.count)
        for p in 0..<pixels {
            for (i, c) in range.enumerated() { out[p * range.count + i] = x[p * count + c] }
        }
        return out
    }
}
