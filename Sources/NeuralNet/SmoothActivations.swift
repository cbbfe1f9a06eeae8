import Compute
import Foundation

/// GELU, x * Phi(x) (Hendrycks and Gimpel 2016): exact (erf), or the tanh approximation GPT-2 and BERT were trained
/// with. Names and formulas as PyTorch's `nn.GELU(approximate=...)`. Any shape. Runs on oneDNN's eltwise primitive;
/// `usesReferencePath` runs the formulas below instead.
public final class GELU: Layer {
    public enum Approximation: String, Sendable { case none, tanh }
    public let approximation: Approximation
    public var usesReferencePath = false
    private var input = Tensor(zeros: [0])
    private var kind: ActivationPrimitive.Kind { approximation == .none ? .geluErf : .geluTanh }

    public init(approximation: Approximation = .none) { self.approximation = approximation }

    public var summary: String { approximation == .none ? "GELU" : "GELU(tanh)" }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    /// sqrt(2 / pi) and the cubic coefficient of the tanh form.
    private static let k: Float = 0.7978845608028654, c: Float = 0.044715

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        input = x
        guard usesReferencePath else { return Tensor(shape: x.shape, scalars: ActivationPrimitive.cached(count: x.count, kind: kind).forward(x.scalars)) }
        var y = x
        switch approximation {
        case .none:
            for i in 0..<y.count { let v = x.scalars[i]; y.scalars[i] = 0.5 * v * (1 + erff(v * 0.7071067811865476)) }
        case .tanh:
            for i in 0..<y.count {
                let v = x.scalars[i]
                y.scalars[i] = 0.5 * v * (1 + tanhf(Self.k * (v + Self.c * v * v * v)))
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(input.shape == dy.shape, "GELU.backward without a matching forward")
        guard usesReferencePath else {
            return Tensor(shape: dy.shape, scalars: ActivationPrimitive.cached(count: dy.count, kind: kind).backward(input: input.scalars, gradient: dy.scalars))
        }
        var dx = dy
        switch approximation {
        case .none:
            // d/dx x Phi(x) = Phi(x) + x phi(x)
            for i in 0..<dx.count {
                let v = input.scalars[i]
                let cdf = 0.5 * (1 + erff(v * 0.7071067811865476)), pdf = expf(-0.5 * v * v) * 0.3989422804014327
                dx.scalars[i] *= cdf + v * pdf
            }
        case .tanh:
            for i in 0..<dx.count {
                let v = input.scalars[i]
                let t = tanhf(Self.k * (v + Self.c * v * v * v))
                dx.scalars[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * Self.k * (1 + 3 * Self.c * v * v)
            }
        }
        return dx
    }
}

/// SiLU (swish), x * sigmoid(x): MobileNetV3's and EfficientNet's activation. Any shape; on oneDNN unless
/// `usesReferencePath`.
public final class SiLU: Layer {
    public var usesReferencePath = false
    private var input = Tensor(zeros: [0])
    public init() {}
    public var summary: String { "SiLU" }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        input = x
        guard usesReferencePath else { return Tensor(shape: x.shape, scalars: ActivationPrimitive.cached(count: x.count, kind: .silu).forward(x.scalars)) }
        var y = x
        for i in 0..<y.count { let v = x.scalars[i]; y.scalars[i] = v / (1 + expf(-v)) }
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(input.shape == dy.shape, "SiLU.backward without a matching forward")
        guard usesReferencePath else {
            return Tensor(shape: dy.shape, scalars: ActivationPrimitive.cached(count: dy.count, kind: .silu).backward(input: input.scalars, gradient: dy.scalars))
        }
        var dx = dy
        // d/dx x s(x) = s(x) (1 + x (1 - s(x)))
        for i in 0..<dx.count {
            let v = input.scalars[i], s = 1 / (1 + expf(-v))
            dx.scalars[i] *= s * (1 + v * (1 - s))
        }
        return dx
    }
}
