import Compute

/// Fully connected layer. x: (batch, ..., inFeatures) -> (batch, ..., outFeatures); leading axes (a transformer's
/// positions) are rows of one GEMM.
/// The weight is stored (out, in), as PyTorch does, so the forward GEMM uses transB and never repacks.
public final class Linear: Overridable {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    /// The int8 runtime's kernel, calibration's recorder, or fake quantization for QAT.
    public var layerOverride: LayerOverride?
    private var input = Tensor(zeros: [0])

    public init(_ inFeatures: Int, _ outFeatures: Int, rng: inout SeededRandom) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
        let bound = 1 / Float(inFeatures).squareRoot()
        func uniform(_ n: Int) -> [Float] { (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * bound } }
        weight = Parameter("weight", Tensor(shape: [outFeatures, inFeatures], scalars: uniform(outFeatures * inFeatures)))
        bias = Parameter("bias", Tensor(shape: [outFeatures], scalars: uniform(outFeatures)))
    }

    public var summary: String { "Linear(\(inFeatures) -> \(outFeatures))" }
    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        try Self.outputShape(for: input, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    /// The shape rule without a layer: checking a module tree allocates nothing.
    public static func outputShape(for input: [Int], inFeatures: Int, outFeatures: Int) throws -> [Int] {
        guard input.last == inFeatures else {
            throw NeuralNetError("Linear(\(inFeatures) -> \(outFeatures)) expects input (..., \(inFeatures)), got \(input)")
        }
        return Array(input.dropLast()) + [outFeatures]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if let takeover = layerOverride { return takeover.forward(x, training: training) { self.ownForward($0, training: training) } }
        return ownForward(x, training: training)
    }

    private func ownForward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape.last == inFeatures, "Linear(\(inFeatures) -> \(outFeatures)): input \(x.shape)")
        let batch = x.count / inFeatures
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        guard batch > 0 else { return y }
        y.scalars.withUnsafeMutableBufferPointer { out in
            bias.value.scalars.withUnsafeBufferPointer { b in
                for r in 0..<batch { (out.baseAddress! + r * outFeatures).update(from: b.baseAddress!, count: outFeatures) }
            }
            x.scalars.withUnsafeBufferPointer { xp in
                weight.value.scalars.withUnsafeBufferPointer { w in
                    GEMM.sgemm(.none, .transposed, m: batch, n: outFeatures, k: inFeatures,
                               a: xp.baseAddress!, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                               beta: 1, c: out.baseAddress!, ldc: outFeatures)
                }
            }
        }
        input = x  // also in evaluation, so saliency methods can back-propagate through it
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        if let takeover = layerOverride {
            return takeover.backward(dy, needInputGradient: needInputGradient) { self.ownBackward($0, needInputGradient: needInputGradient) }
        }
        return ownBackward(dy, needInputGradient: needInputGradient)
    }

    private func ownBackward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let batch = dy.count / outFeatures
        precondition(input.count == batch * inFeatures, "Linear.backward without a matching forward")
        dy.scalars.withUnsafeBufferPointer { g in
            input.scalars.withUnsafeBufferPointer { xp in
                weight.grad.scalars.withUnsafeMutableBufferPointer { dw in
                    // dW (out, in) = dy^T (out, batch) x x (batch, in)
                    GEMM.sgemm(.transposed, .none, m: outFeatures, n: inFeatures, k: batch,
                               a: g.baseAddress!, lda: outFeatures, b: xp.baseAddress!, ldb: inFeatures,
                               c: dw.baseAddress!, ldc: inFeatures)
                }
            }
            bias.grad.scalars.withUnsafeMutableBufferPointer { db in
                MatrixSums.columns(g.baseAddress!, rows: batch, columns: outFeatures, into: db.baseAddress!)
            }
        }
        guard needInputGradient else { return nil }
        var dx = Tensor(zeros: input.shape)
        dy.scalars.withUnsafeBufferPointer { g in
            weight.value.scalars.withUnsafeBufferPointer { w in
                dx.scalars.withUnsafeMutableBufferPointer { out in
                    // dx (batch, in) = dy (batch, out) x W (out, in)
                    GEMM.sgemm(.none, .none, m: batch, n: inFeatures, k: outFeatures,
                               a: g.baseAddress!, lda: outFeatures, b: w.baseAddress!, ldb: inFeatures,
                               c: out.baseAddress!, ldc: inFeatures)
                }
            }
        }
        return dx
    }
}
