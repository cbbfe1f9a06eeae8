import Foundation

/// The Reduce* family (axes as an attribute before opset 18, ReduceSum's from 13, or as an input after), and
/// LayerNormalization, which PyTorch's exporter emits for nn.LayerNorm from opset 17.
enum ReductionOperators {
    static let table: [String: Operator] = [
        "ReduceMean": reduce(0, +, finish: { sum, n in sum / Float(n) }),
        "ReduceSum": reduce(0, +),
        "ReduceMax": reduce(-.infinity, { max($0, $1) }),
        "ReduceMin": reduce(.infinity, { min($0, $1) }),
        "ReduceProd": reduce(1, *),
        "ReduceL1": reduce(0, { $0 + abs($1) }),
        "ReduceL2": reduce(0, { $0 + $1 * $1 }, finish: { sum, _ in sum.squareRoot() }),
        "ReduceSumSquare": reduce(0, { $0 + $1 * $1 }),
        "ReduceLogSumExp": reduce(0, { $0 + exp($1) }, finish: { sum, _ in log(sum) }),
        "LayerNormalization": Operator(["axis", "epsilon", "stash_type"], layerNormalization),
    ]

    /// A reduction folding each reduced group with `combine` from `initial`, then `finish(value, group size)`.
    static func reduce(_ initial: Float, _ combine: @escaping @Sendable (Float, Float) -> Float,
                       finish: @escaping @Sendable (Float, Int) -> Float = { value, _ in value }) -> Operator {
        Operator(["axes", "keepdims", "noop_with_empty_axes"]) { c in
            let x = try c.input(0, "data")
            let values = try x.floats(c.label, "data")
            let rank = x.shape.count
            var axes = try c.optionalInput(1).map { try $0.ints(c.label, "axes").map(Int.init) } ?? c.ints("axes") ?? []
            if axes.isEmpty {
                if try c.int("noop_with_empty_axes", default: 0) != 0 { return [x] }
                axes = Array(0..<rank)
            }
            let reduced = try Set(axes.map { a -> Int in
                let axis = a < 0 ? a + rank : a
                guard (0..<rank).contains(axis) else { throw c.error("axis \(a) is out of range for rank \(rank)") }
                return axis
            })
            let keep = try c.int("keepdims", default: 1) != 0
            let kept = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
            let outStrides = strides(of: kept).enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }
            let outCount = kept.reduce(1, *)
            var out = [Float](repeating: initial, count: outCount)
            // Walk the input in order; each element lands on the output position of its kept coordinates.
            var index = [Int](repeating: 0, count: rank), o = 0
            for v in values {
                out[o] = combine(out[o], v)
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1; o += outStrides[d]
                    if index[d] < x.shape[d] { break }
                    o -= outStrides[d] * x.shape[d]; index[d] = 0
                    d -= 1
                }
            }
            let group = values.count / max(outCount, 1)
            out = out.map { finish($0, group) }
            let shape = keep ? kept : x.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
            return [OnnxValue(shape: shape, floats: out)]
        }
    }

    /// Y = (X - mean) / sqrt(var + epsilon) * Scale + B over the axes from `axis` on; also Mean and InvStdDev when
    /// the node asks for them.
    @Sendable static func layerNormalization(_ c: NodeContext) throws -> [OnnxValue] {
        let x = try c.input(0, "X")
        let values = try x.floats(c.label, "X")
        let rank = x.shape.count
        let given = try c.int("axis", default: -1)
        let axis = given < 0 ? given + rank : given
        guard (0..<rank).contains(axis) else { throw c.error("axis \(given) is out of range for rank \(rank)") }
        let epsilon = try c.float("epsilon", default: 1e-5)
        let inner = x.shape[axis...].reduce(1, *), outer = values.count / max(inner, 1)
        let scale = try c.floats(1, "Scale")
        let bias = try c.optionalInput(2).map { try $0.floats(c.label, "B") }
        guard scale.count == inner || scale.count == 1, bias.map({ $0.count == inner || $0.count == 1 }) ?? true else {
            throw c.error("Scale and B must have \(inner) values (the normalized axes \(Array(x.shape[axis...]))), got \(scale.count) and \(bias?.count ?? 0)")
        }
        var y = [Float](repeating: 0, count: values.count)
        var means = [Float](repeating: 0, count: outer), inverses = [Float](repeating: 0, count: outer)
        for r in 0..<outer {
            let base = r * inner
            var mean: Float = 0
            for i in 0..<inner { mean += values[base + i] }
            mean /= Float(inner)
            var variance: Float = 0
            for i in 0..<inner { let d = values[base + i] - mean; variance += d * d }
            let inverse = 1 / (variance / Float(inner) + epsilon).squareRoot()
            means[r] = mean; inverses[r] = inverse
            for i in 0..<inner {
                let s = scale.count == 1 ? scale[0] : scale[i]
                let b = bias.map { $0.count == 1 ? $0[0] : $0[i] } ?? 0
                y[base + i] = (values[base + i] - mean) * inverse * s + b
            }
        }
        let statShape = x.shape.enumerated().map { $0.offset >= axis ? 1 : $0.element }
        return [OnnxValue(shape: x.shape, floats: y), OnnxValue(shape: statShape, floats: means), OnnxValue(shape: statShape, floats: inverses)]
    }
}
