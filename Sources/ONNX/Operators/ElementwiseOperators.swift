import Foundation

/// Add, Sub, Mul, Div with NumPy broadcasting (floats or int64 shapes), and the unary activations.
enum ElementwiseOperators {
    static let table: [String: Operator] = [
        // Integer arithmetic wraps rather than traps: a hostile file must not crash the process.
        "Add": binary(+, { $0 &+ $1 }),
        "Sub": binary(-, { $0 &- $1 }),
        "Mul": binary(*, { $0 &* $1 }),
        "Div": binary(/, { a, b in b == 0 || (a == .min && b == -1) ? 0 : a / b }),
        "Relu": Operator { c in  // every hidden layer has one: a plain loop, no closure per element
            let x = try c.input(0, "X")
            var values = try x.floats(c.label, "X")
            values.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = max(p[i], 0) } }
            return [OnnxValue(shape: x.shape, floats: values)]
        },
        "Sigmoid": unary { 1 / (1 + exp(-$0)) },
        "Tanh": unary { tanh($0) },
        "Exp": unary { exp($0) },
        "Sqrt": unary { $0.squareRoot() },
        "Neg": unary { -$0 },
        "Erf": unary { erf($0) },
        "Gelu": Operator(["approximate"]) { c in  // opset 20; earlier exports spell it with Erf or Tanh
            let x = try c.input(0, "X")
            let values = try x.floats(c.label, "X")
            switch try c.string("approximate", default: "none") {
            case "none": return [OnnxValue(shape: x.shape, floats: values.map(geluExact))]
            case "tanh": return [OnnxValue(shape: x.shape, floats: values.map(geluTanh))]
            case let other: throw c.error("approximate must be 'none' or 'tanh', got '\(other)'")
            }
        },
        "HardSigmoid": Operator(["alpha", "beta"]) { c in
            let alpha = try c.float("alpha", default: 0.2), beta = try c.float("beta", default: 0.5)
            let x = try c.input(0, "X")
            return [OnnxValue(shape: x.shape, floats: try x.floats(c.label, "X").map { min(max(alpha * $0 + beta, 0), 1) })]
        },
        "HardSwish": unary { x in
            let gate: Float = min(max(x / 6 + 0.5, 0), 1)
            return x * gate
        },
        "Pow": Operator { c in  // the exponent may be an integer tensor
            let x = try c.input(0, "X"), e = try c.input(1, "Y")
            let exponent: [Float]
            switch e.storage {
            case let .float(v): exponent = v
            case let .int(v): exponent = v.map(Float.init)
            }
            let shape = try broadcastShape(x.shape, e.shape, c)
            return [OnnxValue(shape: shape, floats: broadcast(try x.floats(c.label, "X"), x.shape, exponent, e.shape, to: shape) { a, b in
                b == 2 ? a * a : pow(a, b)
            })]
        },
        "LeakyRelu": Operator(["alpha"]) { c in
            let alpha = try c.float("alpha", default: 0.01)
            let x = try c.input(0, "X")
            return [OnnxValue(shape: x.shape, floats: try x.floats(c.label, "X").map { $0 < 0 ? alpha * $0 : $0 })]
        },
        "Clip": Operator(["min", "max"]) { c in
            // Opset 11 moved min and max from attributes to optional inputs.
            let x = try c.input(0, "input")
            let low = try c.optionalInput(1).map { try scalar($0, c, "min") } ?? c.float("min", default: -.greatestFiniteMagnitude)
            let high = try c.optionalInput(2).map { try scalar($0, c, "max") } ?? c.float("max", default: .greatestFiniteMagnitude)
            return [OnnxValue(shape: x.shape, floats: try x.floats(c.label, "input").map { min(max($0, low), high) })]
        },
    ]

    @Sendable static func geluExact(_ x: Float) -> Float {
        let halfRoot: Float = 0.70710678
        return 0.5 * x * (1 + erf(x * halfRoot))
    }

    @Sendable static func geluTanh(_ x: Float) -> Float {
        let k: Float = 0.7978845608  // sqrt(2 / pi)
        let inner: Float = k * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + tanh(inner))
    }

    static func unary(_ f: @escaping @Sendable (Float) -> Float) -> Operator {
        Operator { c in
            let x = try c.input(0, "X")
            return [OnnxValue(shape: x.shape, floats: try x.floats(c.label, "X").map(f))]
        }
    }

    static func binary(_ f: @escaping @Sendable (Float, Float) -> Float, _ i: @escaping @Sendable (Int64, Int64) -> Int64) -> Operator {
        Operator { c in
            let a = try c.input(0, "A"), b = try c.input(1, "B")
            let shape = try broadcastShape(a.shape, b.shape, c)
            switch (a.storage, b.storage) {
            case let (.float(x), .float(y)): return [OnnxValue(shape: shape, floats: broadcast(x, a.shape, y, b.shape, to: shape, f))]
            case let (.int(x), .int(y)): return [OnnxValue(shape: shape, ints: broadcast(x, a.shape, y, b.shape, to: shape, i))]
            default: throw c.error("inputs must have the same element type, got \(a.typeName) and \(b.typeName)")
            }
        }
    }

    static func scalar(_ v: OnnxValue, _ c: NodeContext, _ role: String) throws -> Float {
        let values = try v.floats(c.label, role)
        guard values.count == 1 else { throw c.error("\(role) must be a single value, got shape \(v.shape)") }
        return values[0]
    }

    static func broadcastShape(_ a: [Int], _ b: [Int], _ c: NodeContext) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw c.error("shapes \(a) and \(b) do not broadcast") }
            return x == 1 ? y : x
        }
    }

    /// out[i] = f(a[ia], b[ib]) with broadcast dimensions read at stride 0.
    static func broadcast<T>(_ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], to shape: [Int], _ f: (T, T) -> T) -> [T] {
        let total = shape.reduce(1, *)
        if aShape == bShape && a.count == total { return zip(a, b).map(f) }
        if b.count == 1 && a.count == total { return a.map { f($0, b[0]) } }
        if a.count == 1 && b.count == total { return b.map { f(a[0], $0) } }
        let rank = shape.count
        func broadcastStrides(_ s: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: rank - s.count) + s
            return zip(padded, strides(of: padded)).map { $0 == 1 ? 0 : $1 }
        }
        let sa = broadcastStrides(aShape), sb = broadcastStrides(bShape)
        var out = [T]()
        out.reserveCapacity(total)
        var index = [Int](repeating: 0, count: rank)
        var ia = 0, ib = 0
        for _ in 0..<total {
            out.append(f(a[ia], b[ib]))
            // Odometer increment over the output index, moving both read positions with it.
            var d = rank - 1
            while d >= 0 {
                index[d] += 1; ia += sa[d]; ib += sb[d]
                if index[d] < shape[d] { break }
                ia -= sa[d] * shape[d]; ib -= sb[d] * shape[d]; index[d] = 0
                d -= 1
            }
        }
        return out
    }
}
