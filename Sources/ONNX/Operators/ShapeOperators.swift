/// Layout and shape operators: Flatten, Reshape, Transpose, Concat, Squeeze/Unsqueeze, and the int64 shape
/// arithmetic (Shape, Gather, Constant, Cast) that PyTorch's exporter emits around them.
enum ShapeOperators {
    static let table: [String: Operator] = [
        "Identity": Operator { c in [try c.input(0, "input")] },
        // Inference: the data passes unchanged; the optional mask output is all true.
        "Dropout": Operator(["seed", "ratio"]) { c in
            let x = try c.input(0, "data")
            return [x, OnnxValue(shape: x.shape, ints: [Int64](repeating: 1, count: x.count))]
        },
        "Flatten": Operator(["axis"]) { c in
            let x = try c.input(0, "input")
            let axis = try c.int("axis", default: 1)
            let a = axis < 0 ? axis + x.shape.count : axis
            guard a >= 0 && a <= x.shape.count else { throw c.error("axis \(axis) is out of range for rank \(x.shape.count)") }
            return [x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])]
        },
        "Reshape": Operator(["allowzero"], reshape),
        "Transpose": Operator(["perm"], transpose),
        "Concat": Operator(["axis"], concat),
        "Shape": Operator(["start", "end"]) { c in
            let x = try c.input(0, "data")
            let rank = x.shape.count
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
            let start = clamp(try c.int("start", default: 0)), end = clamp(try c.int("end", default: rank))
            let dims = start < end ? x.shape[start..<end].map(Int64.init) : []
            return [OnnxValue(shape: [dims.count], ints: dims)]
        },
        "Gather": Operator(["axis"], gather),
        "Unsqueeze": Operator(["axes"]) { c in
            let x = try c.input(0, "data")
            let axes = try axesArgument(c)
            let rank = x.shape.count + axes.count
            let normalized = try Set(axes.map { try c.axis($0, rank: rank, name: "axes") })
            guard normalized.count == axes.count else { throw c.error("axes \(axes) repeat an axis") }
            var source = x.shape.makeIterator()
            return [x.reshaped((0..<rank).map { normalized.contains($0) ? 1 : source.next()! })]
        },
        "Squeeze": Operator(["axes"]) { c in
            let x = try c.input(0, "data")
            let axes = try axesArgument(c)
            let normalized = try Set(axes.map { try c.axis($0, rank: x.shape.count, name: "axes") })
            for a in normalized where x.shape[a] != 1 { throw c.error("cannot squeeze axis \(a) of size \(x.shape[a])") }
            let keep = x.shape.enumerated().filter { i, d in axes.isEmpty ? d != 1 : !normalized.contains(i) }
            return [x.reshaped(keep.map(\.element))]
        },
        "Constant": Operator(["value", "value_float", "value_floats", "value_int", "value_ints"]) { c in
            switch c.node.attributes.first?.value {
            case let .tensor(t)?: return [t.value]
            case let .float(v)?: return [OnnxValue(shape: [], floats: [v])]
            case let .floats(v)?: return [OnnxValue(shape: [v.count], floats: v)]
            case let .int(v)?: return [OnnxValue(shape: [], ints: [v])]
            case let .ints(v)?: return [OnnxValue(shape: [v.count], ints: v)]
            default: throw c.error("needs one of value, value_float(s), value_int(s)")
            }
        },
        "Cast": Operator(["to", "saturate"]) { c in
            let x = try c.input(0, "input")
            guard let to = OnnxDataType(rawValue: Int32(try c.int("to", default: 0))), to != .string else {
                throw c.error("cannot cast to element type \(try c.int("to", default: 0))")
            }
            switch (x.storage, to.isFloat) {
            case let (.float(v), false): return [OnnxValue(shape: x.shape, ints: v.map { $0.isFinite && abs($0) < 9e18 ? Int64($0.rounded(.towardZero)) : 0 })]
            case let (.int(v), true): return [OnnxValue(shape: x.shape, floats: v.map(Float.init))]
            default: return [x]
            }
        },
    ]

    /// Opset 13 moved Squeeze/Unsqueeze axes from an attribute to an input.
    static func axesArgument(_ c: NodeContext) throws -> [Int] {
        if let input = c.optionalInput(1) { return try input.ints(c.label, "axes").map(Int.init) }
        return try c.ints("axes") ?? []
    }

    static func reshape(_ c: NodeContext) throws -> [OnnxValue] {
        let x = try c.input(0, "data")
        let requested = try c.input(1, "shape").ints(c.label, "shape").map(Int.init)
        let allowZero = try c.int("allowzero", default: 0) != 0
        var shape = try requested.enumerated().map { i, d -> Int in
            if d == 0 && !allowZero {
                guard i < x.shape.count else { throw c.error("shape \(requested) copies dimension \(i), which \(x.shape) lacks") }
                return x.shape[i]
            }
            return d
        }
        if let unknown = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            guard known > 0, x.count % known == 0, shape.filter({ $0 == -1 }).count == 1 else {
                throw c.error("cannot reshape \(x.shape) to \(requested)")
            }
            shape[unknown] = x.count / known
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == x.count else { throw c.error("cannot reshape \(x.shape) to \(requested)") }
        return [x.reshaped(shape)]
    }

    static func transpose(_ c: NodeContext) throws -> [OnnxValue] {
        let x = try c.input(0, "data")
        let rank = x.shape.count
        let perm = try c.ints("perm") ?? Array((0..<rank).reversed())
        guard perm.sorted() == Array(0..<rank) else { throw c.error("perm \(perm) is not a permutation of 0..<\(rank)") }
        let shape = perm.map { x.shape[$0] }
        let sourceStrides = strides(of: x.shape)
        let permuted = perm.map { sourceStrides[$0] }
        // For every output position, its flat source position.
        var indices = [Int](repeating: 0, count: x.count)
        var index = [Int](repeating: 0, count: rank), source = 0
        for i in 0..<x.count {
            indices[i] = source
            var d = rank - 1
            while d >= 0 {
                index[d] += 1; source += permuted[d]
                if index[d] < shape[d] { break }
                source -= permuted[d] * shape[d]; index[d] = 0
                d -= 1
            }
        }
        return [x.picking(indices, shape: shape)]
    }

    static func concat(_ c: NodeContext) throws -> [OnnxValue] {
        let parts = try c.node.inputs.indices.map { try c.input($0, "inputs[\($0)]") }
        guard let first = parts.first else { throw c.error("needs at least one input") }
        let axis = try c.axis(try c.int("axis", default: 0), rank: max(first.shape.count, 1))
        for p in parts {
            guard p.isFloat == first.isFloat, p.shape.count == first.shape.count,
                  p.shape.enumerated().allSatisfy({ $0.offset == axis || $0.element == first.shape[$0.offset] }) else {
                throw c.error("inputs \(parts.map(\.shape)) (\(parts.map(\.typeName))) cannot be joined on axis \(axis)")
            }
        }
        let outer = first.shape[..<axis].reduce(1, *)
        let blocks = parts.map { $0.shape[axis...].reduce(1, *) }
        var shape = first.shape
        if !shape.isEmpty { shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] } }
        func join<T>(_ values: [[T]]) -> [T] {
            var out = [T]()
            out.reserveCapacity(values.reduce(0) { $0 + $1.count })
            for o in 0..<outer {
                for (v, block) in zip(values, blocks) { out.append(contentsOf: v[(o * block)..<((o + 1) * block)]) }
            }
            return out
        }
        if first.isFloat {
            return [OnnxValue(shape: shape, floats: join(try parts.map { try $0.floats(c.label, "inputs") }))]
        }
        return [OnnxValue(shape: shape, ints: join(try parts.map { try $0.ints(c.label, "inputs") }))]
    }

    static func gather(_ c: NodeContext) throws -> [OnnxValue] {
        let data = try c.input(0, "data"), indexValue = try c.input(1, "indices")
        guard !data.shape.isEmpty else { throw c.error("data must have rank 1 or more") }
        let axis = try c.axis(try c.int("axis", default: 0), rank: data.shape.count)
        let size = data.shape[axis]
        let indices = try indexValue.ints(c.label, "indices").map { i -> Int in
            let j = i < 0 ? Int(i) + size : Int(i)
            guard j >= 0 && j < size else { throw c.error("index \(i) is out of range for axis \(axis) of size \(size)") }
            return j
        }
        let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
        var positions: [Int] = []
        positions.reserveCapacity(outer * indices.count * inner)
        for o in 0..<outer {
            for j in indices {
                let base = (o * size + j) * inner
                positions.append(contentsOf: base..<(base + inner))
            }
        }
        let shape = Array(data.shape[..<axis]) + indexValue.shape + Array(data.shape[(axis + 1)...])
        return [data.picking(positions, shape: shape)]
    }
}
