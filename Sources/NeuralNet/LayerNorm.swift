import Compute
import Foundation

/// Layer normalization over the last axis (Ba et al. 2016), as PyTorch's `nn.LayerNorm(features)`: each row
/// normalised by its own mean and biased variance, then scaled by `weight` and shifted by `bias`. Any leading shape.
/// Runs on oneDNN's layer normalization; `usesReferencePath` runs the loops below.
public final class LayerNorm: Layer {
    public let features: Int
    public let epsilon: Float
    public let weight: Parameter
    public let bias: Parameter
    public var usesReferencePath = false
    /// The fast path's forward state: its input and each row's mean and variance.
    private var input = Tensor(zeros: [0])
    private var means: [Float] = [], variances: [Float] = []
    /// The reference path's, per row: the normalised values and 1 / sqrt(variance + epsilon).
    private var normalized = Tensor(zeros: [0])
    private var inverseDeviations: [Float] = []

    public init(features: Int, epsilon: Float = 1e-5) {
        self.features = features
        self.epsilon = epsilon
        weight = Parameter("weight", Tensor(repeating: 1, shape: [features]))
        bias = Parameter("bias", Tensor(zeros: [features]))
    }

    public var summary: String { "LayerNorm(\(features))" }
    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for input: [Int]) throws -> [Int] { try Self.outputShape(for: input, features: features) }

    /// The shape rule without a layer: checking a module tree allocates nothing.
    public static func outputShape(for input: [Int], features: Int) throws -> [Int] {
        guard input.last == features else {
            throw NeuralNetError("LayerNorm(\(features)) normalises a last axis of \(features), got input shape \(input)")
        }
        return input
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.last == features, "LayerNorm(\(features)) got shape \(x.shape)")
        let rows = x.count / features
        if !usesReferencePath {
            let primitive = LayerNormPrimitive.cached(rows: rows, features: features, epsilon: epsilon)
            let (y, mean, variance) = primitive.forward(x.scalars, scale: weight.value.scalars, shift: bias.value.scalars)
            (input, means, variances) = (x, mean, variance)
            return Tensor(shape: x.shape, scalars: y)
        }
        var xhat = x, y = x
        inverseDeviations = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let base = r * features
            var mean: Float = 0
            for j in 0..<features { mean += x.scalars[base + j] }
            mean /= Float(features)
            var variance: Float = 0
            for j in 0..<features { let d = x.scalars[base + j] - mean; variance += d * d }
            variance /= Float(features)
            let inverse = 1 / (variance + epsilon).squareRoot()
            inverseDeviations[r] = inverse
            for j in 0..<features {
                let n = (x.scalars[base + j] - mean) * inverse
                xhat.scalars[base + j] = n
                y.scalars[base + j] = n * weight.value.scalars[j] + bias.value.scalars[j]
            }
        }
        normalized = xhat
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let rows = dy.count / features
        if !usesReferencePath {
            precondition(dy.shape == input.shape, "LayerNorm.backward without a matching forward")
            let primitive = LayerNormPrimitive.cached(rows: rows, features: features, epsilon: epsilon)
            let (dx, dScale, dShift) = primitive.backward(input: input.scalars, scale: weight.value.scalars, shift: bias.value.scalars, mean: means,
                                                          variance: variances, gradient: dy.scalars)
            weight.grad = Tensor(shape: [features], scalars: dScale)
            bias.grad = Tensor(shape: [features], scalars: dShift)
            return needInputGradient ? Tensor(shape: dy.shape, scalars: dx) : nil
        }
        precondition(dy.shape == normalized.shape, "LayerNorm.backward without a matching forward")
        var dWeight = [Float](repeating: 0, count: features), dBias = dWeight
        var dx = dy
        for r in 0..<rows {
            let base = r * features
            // dxhat = dy * weight; dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            var sum: Float = 0, sumWithNormalized: Float = 0
            for j in 0..<features {
                let g = dy.scalars[base + j], n = normalized.scalars[base + j]
                dWeight[j] += g * n
                dBias[j] += g
                let dn = g * weight.value.scalars[j]
                sum += dn
                sumWithNormalized += dn * n
            }
            guard needInputGradient else { continue }
            let meanGradient = sum / Float(features), meanProduct = sumWithNormalized / Float(features)
            for j in 0..<features {
                let dn = dy.scalars[base + j] * weight.value.scalars[j]
                dx.scalars[base + j] = inverseDeviations[r] * (dn - meanGradient - normalized.scalars[base + j] * meanProduct)
            }
        }
        weight.grad = Tensor(shape: [features], scalars: dWeight)
        bias.grad = Tensor(shape: [features], scalars: dBias)
        return needInputGradient ? dx : nil
    }
}
