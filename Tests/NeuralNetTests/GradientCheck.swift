import Compute
@testable import NeuralNet

/// Central finite differences of L = sum(layer(x) * r) against the layer's analytic backward pass.
enum GradientCheck {
    struct Mismatch: CustomStringConvertible {
        var what: String, index: Int, analytic: Double, numeric: Double
        var description: String { "\(what)[\(index)]: analytic \(analytic) vs numeric \(numeric)" }
    }

    static func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in (rng.nextFloat() * 2 - 1) * scale })
    }

    static func close(_ a: Double, _ n: Double, tolerance: Double) -> Bool {
        abs(a - n) <= tolerance * max(1e-1, abs(a), abs(n))
    }

    /// Returns every coordinate (of at most `limit` per tensor) whose gradients disagree.
    /// `fresh` builds a new, identically seeded layer per evaluation (for stochastic layers).
    /// An int32 `input` (token ids) has no gradient: only the parameters are checked.
    static func check(_ layer: Layer, input: Tensor, training: Bool = true, epsilon: Float = 1e-2,
                      tolerance: Double = 2e-2, limit: Int = 150, fresh: (() -> Layer)? = nil) -> [Mismatch] {
        let first = fresh?() ?? layer
        let y = first.forward(input, training: training)
        let r = randomTensor(y.shape, seed: 99)
        let indices = input.elementType == .int32
        let dx = first.backward(r, needInputGradient: !indices) ?? Tensor(zeros: [0])
        if !indices && dx.count != input.count { return [Mismatch(what: "input", index: -1, analytic: .nan, numeric: .nan)] }
        let parameterGrads = first.namedParameters().map(\.parameter).filter(\.isTrainable).map { ($0, $0.grad) }

        func loss(_ x: Tensor) -> Double {
            let out = (fresh?() ?? first).forward(x, training: training)
            return zip(out.scalars, r.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var mismatches: [Mismatch] = []
        for i in stride(from: 0, to: indices ? 0 : input.count, by: max(1, input.count / limit)) {
            var plus = input, minus = input
            plus.scalars[i] += epsilon
            minus.scalars[i] -= epsilon
            let numeric = (loss(plus) - loss(minus)) / Double(2 * epsilon)
            if !close(Double(dx.scalars[i]), numeric, tolerance: tolerance) {
                mismatches.append(Mismatch(what: "input", index: i, analytic: Double(dx.scalars[i]), numeric: numeric))
            }
        }
        for (parameter, grad) in parameterGrads {
            for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / limit)) {
                let saved = parameter.value.scalars[i]
                parameter.value.scalars[i] = saved + epsilon
                let up = loss(input)
                parameter.value.scalars[i] = saved - epsilon
                let down = loss(input)
                parameter.value.scalars[i] = saved
                let numeric = (up - down) / Double(2 * epsilon)
                if !close(Double(grad.scalars[i]), numeric, tolerance: tolerance) {
                    mismatches.append(Mismatch(what: parameter.name, index: i, analytic: Double(grad.scalars[i]), numeric: numeric))
                }
            }
        }
        return mismatches
    }

    /// A loss's gradient with respect to its logits against central differences.
    static func checkLoss(_ logits: Tensor, epsilon: Float = 1e-2, tolerance: Double = 2e-2,
                          _ f: (Tensor) -> (loss: Float, gradient: Tensor)) -> [Mismatch] {
        let analytic = f(logits).gradient
        var mismatches: [Mismatch] = []
        for i in 0..<logits.count {
            var plus = logits, minus = logits
            plus.scalars[i] += epsilon
            minus.scalars[i] -= epsilon
            let numeric = (Double(f(plus).loss) - Double(f(minus).loss)) / Double(2 * epsilon)
            if !close(Double(analytic.scalars[i]), numeric, tolerance: tolerance) {
                mismatches.append(Mismatch(what: "logits", index: i, analytic: Double(analytic.scalars[i]), numeric: numeric))
            }
        }
        return mismatches
    }
}
