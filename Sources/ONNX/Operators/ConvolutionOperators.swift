import Compute

/// 2-D Conv (groups, dilation, asymmetric and SAME padding) as im2col + oneDNN GEMM per image; max and average
/// pooling; global average pooling.
enum ConvolutionOperators {
    static let table: [String: Operator] = [
        "Conv": Operator(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"], conv),
        "MaxPool": Operator(["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"]) { c in
            [try pool(c, average: false)]
        },
        "AveragePool": Operator(["auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides", "dilations"]) { c in
            [try pool(c, average: true)]
        },
        "GlobalAveragePool": Operator { c in
            let x = try c.input(0, "X")
            guard x.shape.count >= 3 else { throw c.error("X must be (N, C, spatial...), got \(x.shape)") }
            let values = try x.floats(c.label, "X")
            let plane = x.shape[2...].reduce(1, *), planes = x.shape[0] * x.shape[1]
            let means = (0..<planes).map { p in values[(p * plane)..<((p + 1) * plane)].reduce(0, +) / Float(max(plane, 1)) }
            return [OnnxValue(shape: Array(x.shape[..<2]) + [Int](repeating: 1, count: x.shape.count - 2), floats: means)]
        },
    ]

    static func conv(_ c: NodeContext) throws -> [OnnxValue] {
        let x = try c.input(0, "X"), w = try c.input(1, "W")
        guard x.shape.count == 4, w.shape.count == 4 else {
            throw c.error("only 2-D convolution is supported: X \(x.shape), W \(w.shape)")
        }
        let (n, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outChannels, groupChannels) = (w.shape[0], w.shape[1])
        let groups = try c.int("group", default: 1)
        guard groups >= 1, channels == groupChannels * groups, outChannels % groups == 0 else {
            throw c.error("X has \(channels) channels, W \(w.shape) with group \(groups) does not match")
        }
        if let shape = try c.ints("kernel_shape"), shape != Array(w.shape[2...]) {
            throw c.error("kernel_shape \(shape) differs from W's \(Array(w.shape[2...]))")
        }
        let window = try Window(c, kernel: (w.shape[2], w.shape[3]), height: height, width: width)
        let (outHeight, outWidth) = try window.outputSize(height: height, width: width, ceil: false, c)
        let bias = try c.optionalInput(2).map { try $0.floats(c.label, "B") }
        guard bias.map({ $0.count == outChannels }) ?? true else { throw c.error("B must have \(outChannels) values") }
        let input = try x.floats(c.label, "X"), weights = try w.floats(c.label, "W")
        let patch = groupChannels * window.kernel.0 * window.kernel.1, positions = outHeight * outWidth
        let groupOut = outChannels / groups
        var out = [Float](repeating: 0, count: n * outChannels * positions)
        input.withUnsafeBufferPointer { xp in
            weights.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let (xBase, wBase, outBase) = (xp.baseAddress!, wp.baseAddress!, op.baseAddress!)
                    // Images in parallel, each GEMM on one thread: small per-image GEMMs scale better this way.
                    Parallel.forEachChunk(n, minimumChunk: 1) { images in
                        var columns = [Float](repeating: 0, count: patch * positions)
                        columns.withUnsafeMutableBufferPointer { cols in
                            for image in images {
                                for g in 0..<groups {
                                    let source = xBase + (image * channels + g * groupChannels) * height * width
                                    window.im2col(source, channels: groupChannels, height: height, width: width,
                                                  outHeight: outHeight, outWidth: outWidth, into: cols.baseAddress!)
                                    GEMM.sgemm(.none, .none, m: groupOut, n: positions, k: patch,
                                               a: wBase + g * groupOut * patch, lda: patch, b: cols.baseAddress!, ldb: positions,
                                               c: outBase + (image * outChannels + g * groupOut) * positions, ldc: positions)
                                }
                                if let bias {
                                    for m in 0..<outChannels {
                                        let row = outBase + (image * outChannels + m) * positions
                                        for p in 0..<positions { row[p] += bias[m] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [OnnxValue(shape: [n, outChannels, outHeight, outWidth], floats: out)]
    }

    static func pool(_ c: NodeContext, average: Bool) throws -> OnnxValue {
        let x = try c.input(0, "X")
        guard x.shape.count == 4 else { throw c.error("only 2-D pooling is supported: X \(x.shape)") }
        guard let kernel = try c.ints("kernel_shape"), kernel.count == 2 else { throw c.error("kernel_shape must give 2 values") }
        if try c.int("storage_order", default: 0) != 0 { throw c.error("storage_order 1 is not supported") }
        let (height, width) = (x.shape[2], x.shape[3])
        let window = try Window(c, kernel: (kernel[0], kernel[1]), height: height, width: width)
        let ceil = try c.int("ceil_mode", default: 0) != 0
        let includePad = try c.int("count_include_pad", default: 0) != 0
        let (outHeight, outWidth) = try window.outputSize(height: height, width: width, ceil: ceil, c)
        let input = try x.floats(c.label, "X")
        let planes = x.shape[0] * x.shape[1]
        var out = [Float](repeating: 0, count: planes * outHeight * outWidth)
        input.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let (xBase, outBase) = (xp.baseAddress!, op.baseAddress!)
                Parallel.forEachChunk(planes, minimumChunk: 64) { range in
                    for plane in range {
                        let source = xBase + plane * height * width, target = outBase + plane * outHeight * outWidth
                        for oy in 0..<outHeight {
                            for ox in 0..<outWidth {
                                var best = -Float.infinity, sum: Float = 0, count = 0, padded = 0
                                for ky in 0..<window.kernel.0 {
                                    let y = oy * window.stride.0 - window.pads.top + ky * window.dilation.0
                                    for kx in 0..<window.kernel.1 {
                                        let xx = ox * window.stride.1 - window.pads.left + kx * window.dilation.1
                                        // Padding counts for count_include_pad; positions past it (ceil_mode) never do.
                                        if y >= -window.pads.top && y < height + window.pads.bottom
                                            && xx >= -window.pads.left && xx < width + window.pads.right { padded += 1 }
                                        guard y >= 0 && y < height && xx >= 0 && xx < width else { continue }
                                        let v = source[y * width + xx]
                                        best = max(best, v); sum += v; count += 1
                                    }
                                }
                                target[oy * outWidth + ox] = average ? sum / Float(max(includePad ? padded : count, 1)) : best
                            }
                        }
                    }
                }
            }
        }
        return OnnxValue(shape: [x.shape[0], x.shape[1], outHeight, outWidth], floats: out)
    }
}

/// Kernel, strides, dilations and pads of a 2-D window, from a node's attributes (auto_pad included).
struct Window {
    var kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)
    var pads: (top: Int, left: Int, bottom: Int, right: Int)

    init(_ c: NodeContext, kernel: (Int, Int), height: Int, width: Int) throws {
        self.kernel = kernel
        let strides = try c.ints("strides") ?? [1, 1], dilations = try c.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2, strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }),
              kernel.0 >= 1, kernel.1 >= 1 else {
            throw c.error("strides \(strides), dilations \(dilations) and kernel \(kernel) must be 2 positive values each")
        }
        stride = (strides[0], strides[1]); dilation = (dilations[0], dilations[1])
        switch try c.string("auto_pad", default: "NOTSET") {
        case "NOTSET":
            let p = try c.ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else { throw c.error("pads must be 4 non-negative values, got \(p)") }
            pads = (p[0], p[1], p[2], p[3])
        case "VALID":
            pads = (0, 0, 0, 0)
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            func split(_ size: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
                let out = (size + s - 1) / s
                let total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                return mode == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (top, bottom) = split(height, kernel.0, stride.0, dilation.0)
            let (left, right) = split(width, kernel.1, stride.1, dilation.1)
            pads = (top, left, bottom, right)
        case let mode:
            throw c.error("auto_pad '\(mode)' is not supported")
        }
    }

    func outputSize(height: Int, width: Int, ceil: Bool, _ c: NodeContext) throws -> (Int, Int) {
        func size(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ before: Int, _ after: Int) -> Int {
            let span = n + before + after - ((k - 1) * d + 1)
            guard span >= 0 else { return 0 }
            var out = (ceil ? (span + s - 1) / s : span / s) + 1
            // A ceil_mode window must start inside the input or its leading padding.
            if ceil && (out - 1) * s >= n + before { out -= 1 }
            return out
        }
        let h = size(height, kernel.0, stride.0, dilation.0, pads.top, pads.bottom)
        let w = size(width, kernel.1, stride.1, dilation.1, pads.left, pads.right)
        guard h > 0 && w > 0 else { throw c.error("the window does not fit the \(height)x\(width) input") }
        return (h, w)
    }

    /// cols (channels * kh * kw, outHeight * outWidth) from one image's (channels, height, width), zeros in the padding.
    func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
                into cols: UnsafeMutablePointer<Float>) {
        let positions = outHeight * outWidth
        var row = 0
        for ch in 0..<channels {
            let plane = x + ch * height * width
            for ky in 0..<kernel.0 {
                for kx in 0..<kernel.1 {
                    let target = cols + row * positions
                    for oy in 0..<outHeight {
                        let y = oy * stride.0 - pads.top + ky * dilation.0
                        let line = target + oy * outWidth
                        guard y >= 0 && y < height else {
                            line.update(repeating: 0, count: outWidth)
                            continue
                        }
                        for ox in 0..<outWidth {
                            let xx = ox * stride.1 - pads.left + kx * dilation.1
                            line[ox] = xx >= 0 && xx < width ? plane[y * width + xx] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
