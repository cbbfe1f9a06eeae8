import Compute
import Foundation

/// Causal multi-head self-attention (Vaswani et al. 2017; GPT-2's form): one fused projection to queries, keys and
/// values (`qkv`, d -> 3d, split as PyTorch's `qkv.split(d, dim=-1)` then `view(B, T, heads, d / heads)`), scaled dot
/// products masked to earlier positions, softmax, the heads merged and projected (`proj`). x: (batch, T, d).
/// The per-head work runs as whole-batch oneDNN primitives: two axis permutations, batched matmuls with the scale
/// and causal mask inside, one softmax; `usesReferencePath` swaps each for its plain-loop twin.
public final class CausalSelfAttention: Layer {
    /// The residual stream's width in and out; each head's width (features / heads unless structured pruning
    /// removed heads); their total, what the projections map to and from.
    public let features: Int, heads: Int, headFeatures: Int
    public var inner: Int { heads * headFeatures }
    public let qkv: Linear, proj: Linear
    public var usesReferencePath = false
    /// From the last forward, for backward: the split heads (q | k | v, each (batch * heads, T, d / heads)) and the
    /// attention probabilities (batch * heads, T, T).
    private var split: [Float] = []
    private var probabilities: [Float] = []
    private var inputShape: [Int] = []

    public init(features: Int, heads: Int, headFeatures: Int? = nil, rng: inout SeededRandom) {
        precondition(heads > 0 && (headFeatures ?? 1) > 0 && (headFeatures != nil || features % heads == 0),
                     "CausalSelfAttention: \(features) features in \(heads) heads")
        self.features = features
        self.heads = heads
        self.headFeatures = headFeatures ?? features / heads
        qkv = Linear(features, 3 * heads * self.headFeatures, rng: &rng)
        proj = Linear(heads * self.headFeatures, features, rng: &rng)
    }

    public var summary: String {
        "CausalSelfAttention(\(features), heads=\(heads)" + (inner == features ? ")" : " of \(headFeatures))")
    }
    public var children: [(name: String, layer: Layer)] { [("qkv", qkv), ("proj", proj)] }

    public func outputShape(for input: [Int]) throws -> [Int] {
        try Self.outputShape(for: input, features: features, heads: heads, headFeatures: headFeatures)
    }

    public static func outputShape(for input: [Int], features: Int, heads: Int, headFeatures: Int? = nil) throws -> [Int] {
        guard heads > 0, headFeatures.map({ $0 > 0 }) ?? (features % heads == 0) else {
            throw NeuralNetError("CausalSelfAttention(\(features), heads=\(heads)): the features must divide into the heads")
        }
        guard input.count == 2, input[1] == features, input[0] > 0 else {
            throw NeuralNetError("CausalSelfAttention(\(features), heads=\(heads)) expects input (sequence, \(features)), got \(input)")
        }
        return input
    }

    private struct Sizes {
        let batch: Int, length: Int, features: Int, heads: Int
        var headFeatures: Int { features / heads }
        var block: Int { batch * heads * length * headFeatures }
        var scale: Float { 1 / Float(headFeatures).squareRoot() }
        /// (B, T, 3, H, hd) as stored by the projection, seen in the order (3, B, H, T, hd).
        var fusedLayout: AxisPermutation.Geometry {
            .init(dimensions: [3, batch, heads, length, headFeatures],
                  sourceStrides: [features, length * 3 * features, headFeatures, 3 * features, 1],
                  destinationStrides: [block, heads * length * headFeatures, length * headFeatures, headFeatures, 1])
        }
        /// (B, T, H, hd) as the output projection reads it, seen in the order (B, H, T, hd).
        var mergedLayout: AxisPermutation.Geometry {
            .init(dimensions: [batch, heads, length, headFeatures],
                  sourceStrides: [length * features, headFeatures, features, 1],
                  destinationStrides: [heads * length * headFeatures, length * headFeatures, headFeatures, 1])
        }
        func matmul(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1,
                    causal: Bool = false) -> BatchedMatmul.Geometry {
            .init(batch: batch * heads, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, alpha: alpha, causal: causal)
        }
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 3 && x.shape[2] == features, "\(summary) got \(x.shape)")
        let s = Sizes(batch: x.shape[0], length: x.shape[1], features: inner, heads: heads)
        inputShape = x.shape
        let projected = qkv.forward(x, training: training)
        split = permute(projected.scalars, s.fusedLayout)
        let (q, k, v) = (part(split, 0, s), part(split, 1, s), part(split, 2, s))
        let scores = multiply(s.matmul(m: s.length, n: s.length, k: s.headFeatures, transposeB: true, alpha: s.scale, causal: true), q, k)
        probabilities = softmax(scores, rows: s.batch * s.heads * s.length, columns: s.length)
        let attended = multiply(s.matmul(m: s.length, n: s.headFeatures, k: s.length), probabilities[...], v)
        let merged = permute(attended, s.mergedLayout, inverse: true)
        return proj.forward(Tensor(shape: [x.shape[0], x.shape[1], inner], scalars: merged), training: training)
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == inputShape, "CausalSelfAttention.backward without a matching forward")
        let s = Sizes(batch: inputShape[0], length: inputShape[1], features: inner, heads: heads)
        let dMerged = proj.backward(dy, needInputGradient: true)!
        let dAttended = permute(dMerged.scalars, s.mergedLayout)
        let (q, k, v) = (part(split, 0, s), part(split, 1, s), part(split, 2, s))
        let dV = multiply(s.matmul(m: s.length, n: s.headFeatures, k: s.length, transposeA: true), probabilities[...], dAttended[...])
        let dProbabilities = multiply(s.matmul(m: s.length, n: s.length, k: s.headFeatures, transposeB: true), dAttended[...], v)
        let dScores = softmaxBackward(probabilities, dProbabilities, rows: s.batch * s.heads * s.length, columns: s.length)
        let dQ = multiply(s.matmul(m: s.length, n: s.headFeatures, k: s.length, alpha: s.scale), dScores[...], k)
        let dK = multiply(s.matmul(m: s.length, n: s.headFeatures, k: s.length, transposeA: true, alpha: s.scale), dScores[...], q)
        let dProjected = permute(dQ + dK + dV, s.fusedLayout, inverse: true)
        return qkv.backward(Tensor(shape: inputShape.dropLast() + [3 * inner], scalars: dProjected), needInputGradient: needInputGradient)
    }

    private func part(_ heads: [Float], _ index: Int, _ s: Sizes) -> ArraySlice<Float> {
        heads[(index * s.block)..<((index + 1) * s.block)]
    }

    // MARK: the primitives and their plain twins

    private func multiply(_ g: BatchedMatmul.Geometry, _ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> [Float] {
        if usesReferencePath { return BatchedMatmul.reference(g, Array(a), Array(b)) }
        var c = [Float](repeating: 0, count: g.batch * g.m * g.n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { BatchedMatmul.cached(g).run(ap.baseAddress!, bp.baseAddress!, into: $0.baseAddress!) }
            }
        }
        return c
    }

    /// Source layout to dense (or, `inverse`, dense to the source layout).
    private func permute(_ x: [Float], _ g: AxisPermutation.Geometry, inverse: Bool = false) -> [Float] {
        let geometry = inverse ? AxisPermutation.Geometry(dimensions: g.dimensions, sourceStrides: g.destinationStrides,
                                                          destinationStrides: g.sourceStrides) : g
        guard usesReferencePath else { return AxisPermutation.cached(geometry)(x) }
        var y = [Float](repeating: 0, count: x.count)
        var index = [Int](repeating: 0, count: geometry.dimensions.count)
        for _ in 0..<x.count {
            let from = zip(index, geometry.sourceStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let to = zip(index, geometry.destinationStrides).reduce(0) { $0 + $1.0 * $1.1 }
            y[to] = x[from]
            var axis = index.count - 1
            while axis >= 0 { index[axis] += 1; if index[axis] < geometry.dimensions[axis] { break }; index[axis] = 0; axis -= 1 }
        }
        return y
    }

    private func softmax(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        guard usesReferencePath else { return RowSoftmax.cached(rows: rows, columns: columns).forward(x) }
        var y = x
        for r in 0..<rows {
            let row = x[(r * columns)..<((r + 1) * columns)]
            let peak = row.max()!
            let exps = row.map { Foundation.exp(Double($0 - peak)) }
            let total = exps.reduce(0, +)
            for (j, e) in exps.enumerated() { y[r * columns + j] = Float(e / total) }
        }
        return y
    }

    private func softmaxBackward(_ y: [Float], _ dy: [Float], rows: Int, columns: Int) -> [Float] {
        guard usesReferencePath else { return RowSoftmax.cached(rows: rows, columns: columns).backward(output: y, gradient: dy) }
        var dx = dy
        for r in 0..<rows {
            let range = (r * columns)..<((r + 1) * columns)
            let dot = zip(y[range], dy[range]).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            for i in range { dx[i] = y[i] * (dy[i] - Float(dot)) }
        }
        return dx
    }
}
