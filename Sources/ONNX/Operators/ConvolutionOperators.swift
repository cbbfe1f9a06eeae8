import Compute

/// 2-D Conv (groups, dilation, asymmetric and SAME padding) as im2col + oneDNN GEMM per image; max and average
/// pooling; global average pooling.
enum ConvolutionOperators {
    static let table: [String: Operator] = [
        "Conv": Operator(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]) { c in try conv(c) },
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

    /// oneDNN's convolution primitive where it has one for the geometry; im2col + GEMM per image otherwise.
    static func conv(_ c: NodeContext, oneDNN: Bool = true) throws -> [OnnxValue] {
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
        let geometry = ConvolutionPrimitive.Geometry(
            batch: n, channels: channels, height: height, width: width, outChannels: outChannels, groups: groups,
            kernel: window.kernel, stride: window.stride, dilation: window.dilation,
            pads: [window.pads.top, window.pads.left, window.pads.bottom, window.pads.right], hasBias: bias != nil)
        if oneDNN, let primitive = ConvolutionPrimitive.cached(geometry) {
            return [OnnxValue(shape: [n, outChannels, outHeight, outWidth], floats: primitive.run(src: input, weights: weights, bias: bias))]
        }
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
        let w = window
        // Which kernel rows and columns each output reads (inside the image), and how many it averages over:
        // the same for every plane, so worked out once.
        let rows = (0..<outHeight).map { Window.taps($0 * w.stride.0 - w.pads.top, w.kernel.0, w.dilation.0, 0, height) }
        let columns = (0..<outWidth).map { Window.taps($0 * w.stride.1 - w.pads.left, w.kernel.1, w.dilation.1, 0, width) }
        let divisors = (0..<(outHeight * outWidth)).map { i -> Float in
            let (oy, ox) = (i / outWidth, i % outWidth)
            guard includePad else { return Float(max(rows[oy].count * columns[ox].count, 1)) }
            let r = Window.taps(oy * w.stride.0 - w.pads.top, w.kernel.0, w.dilation.0, -w.pads.top, height + w.pads.bottom)
            let c = Window.taps(ox * w.stride.1 - w.pads.left, w.kernel.1, w.dilation.1, -w.pads.left, width + w.pads.right)
            return Float(max(r.count * c.count, 1))
        }
        input.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let (xBase, outBase) = (xp.baseAddress!, op.baseAddress!)
                Parallel.forEachChunk(planes, minimumChunk: 16) { range in
                    for plane in range {
                        let source = xBase + plane * height * width, target = outBase + plane * outHeight * outWidth
                        for oy in 0..<outHeight {
                            let top = source + (oy * w.stride.0 - w.pads.top) * width
                            for ox in 0..<outWidth {
                                let corner = top + ox * w.stride.1 - w.pads.left
                                var best = -Float.infinity, sum: Float = 0
                                // Wrapping arithmetic and a plain compare: the hot loop needs no overflow or NaN checks.
                                for ky in rows[oy] {
                                    let line = corner + ky &* w.dilation.0 &* width
                                    if average {
                                        for kx in columns[ox] { sum += line[kx &* w.dilation.1] }
                                    } else {
                                        for kx in columns[ox] {
                                            let v = line[kx &* w.dilation.1]
                                            best = v > best ? v : best
                                        }
                                    }
                                }
                                target[oy * outWidth + ox] = average ? sum / divisors[oy * outWidth + ox] : best
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

    /// The taps k in 0..<kernel whose position start + k * dilation lies in low..<high.
    static func taps(_ start: Int, _ kernel: Int, _ dilation: Int, _ low: Int, _ high: Int) -> Range<Int> {
        let first = start >= low ? 0 : (low - start + dilation - 1) / dilation
        let last = start >= high ? 0 : min(kernel, (high - start + dilation - 1) / dilation)
        return first < last ? first..<last : 0..<0
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
                    // Output columns whose input column lies inside the image.
                    let offset = kx * dilation.1 - pads.left
                    let inside = Window.taps(offset, outWidth, stride.1, 0, width)
                    for oy in 0..<outHeight {
                        let y = oy * stride.0 - pads.top + ky * dilation.0
                        let line = target + oy * outWidth
                        guard y >= 0 && y < height, !inside.isEmpty else {
                            line.update(repeating: 0, count: outWidth)
                            continue
                        }
                        line.update(repeating: 0, count: inside.lowerBound)
                        let source = plane + y * width + offset
                        if stride.1 == 1 {
                            (line + inside.lowerBound).update(from: source + inside.lowerBound, count: inside.count)
                        } else {
                            for ox in inside { line[ox] = source[ox * stride.1] }
                        }
                        (line + inside.upperBound).update(repeating: 0, count: outWidth - inside.upperBound)
                    }
                    row += 1
                }
            }
        }
    }
}
