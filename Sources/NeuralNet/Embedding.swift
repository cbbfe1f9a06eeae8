import Compute

/// A lookup table, as PyTorch's `nn.Embedding(count, features)`: int32 indices of any shape -> their rows,
/// (..., features). Indices outside the table are a precondition failure: data sources check token ids first.
public final class Embedding: Layer {
    public let count: Int, features: Int
    public let weight: Parameter
    /// Set when an output projection shares the table (weight tying): that projection's backward runs first and
    /// writes the gradient, this one adds to it.
    public var sharesGradient = false
    private var lastIndices: [Int32] = []

    /// Rows drawn from N(0, 0.02^2), GPT-2's initialisation.
    public init(count: Int, features: Int, rng: inout SeededRandom) {
        self.count = count
        self.features = features
        weight = Parameter("weight", Tensor(shape: [count, features], scalars: (0..<count * features).map { _ in 0.02 * rng.nextGaussian() }))
    }

    public var summary: String { "Embedding(\(count), \(features))" }
    public var parameters: [Parameter] { [weight] }

    public func outputShape(for input: [Int]) throws -> [Int] { try Self.outputShape(for: input, count: count, features: features) }

    public static func outputShape(for input: [Int], count: Int, features: Int) throws -> [Int] {
        guard !input.isEmpty else { throw NeuralNetError("Embedding(\(count), \(features)) looks up a sequence of indices, got a scalar input") }
        return input + [features]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.elementType == .int32, "Embedding(\(count), \(features)) looks up int32 indices, got \(x)")
        lastIndices = x.indices
        var y = Tensor(zeros: x.shape + [features])
        let d = features
        y.scalars.withUnsafeMutableBufferPointer { out in
            weight.value.scalars.withUnsafeBufferPointer { table in
                for (row, index) in x.indices.enumerated() {
                    precondition(index >= 0 && Int(index) < count, "index \(index) outside Embedding(\(count), \(d))")
                    (out.baseAddress! + row * d).update(from: table.baseAddress! + Int(index) * d, count: d)
                }
            }
        }
        return y
    }

    /// Adds each output row's gradient to its table row; indices have no gradient.
    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        precondition(dy.count == lastIndices.count * features, "Embedding.backward without a matching forward")
        if !sharesGradient || weight.grad.shape != weight.value.shape { weight.grad = Tensor(zeros: weight.value.shape) }
        let d = features
        weight.grad.scalars.withUnsafeMutableBufferPointer { grad in
            dy.scalars.withUnsafeBufferPointer { g in
                for (row, index) in lastIndices.enumerated() {
                    Elementwise.accumulate(UnsafeBufferPointer(rebasing: g[(row * d)..<(row * d + d)]),
                                           into: UnsafeMutableBufferPointer(rebasing: grad[(Int(index) * d)..<(Int(index) * d + d)]))
                }
            }
        }
        return nil
    }
}

/// Learned absolute positions (GPT-2's `wpe`): adds row t of a (context, features) table to position t of a
/// (..., sequence, features) input, sequence <= context. Its PyTorch twin is `x + nn.Embedding(context, d)(arange(T))`.
public final class PositionalEmbedding: Layer {
    public let context: Int, features: Int
    public let weight: Parameter

    public init(context: Int, features: Int, rng: inout SeededRandom) {
        self.context = context
        self.features = features
        weight = Parameter("weight", Tensor(shape: [context, features], scalars: (0..<context * features).map { _ in 0.02 * rng.nextGaussian() }))
    }

    public var summary: String { "PositionalEmbedding(\(context), \(features))" }
    public var parameters: [Parameter] { [weight] }

    public func outputShape(for input: [Int]) throws -> [Int] { try Self.outputShape(for: input, context: context, features: features) }

    public static func outputShape(for input: [Int], context: Int, features: Int) throws -> [Int] {
        guard input.count >= 2, input.last == features, input[input.count - 2] <= context else {
            throw NeuralNetError("PositionalEmbedding(\(context), \(features)) adds to (sequence <= \(context), \(features)), got \(input)")
        }
        return input
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let length = x.shape[x.rank - 2], block = length * features
        precondition(x.shape.last == features && length <= context, "\(summary) got \(x.shape)")
        var y = x
        y.scalars.withUnsafeMutableBufferPointer { out in
            weight.value.scalars.withUnsafeBufferPointer { table in
                for start in stride(from: 0, to: out.count, by: block) {
                    Elementwise.accumulate(UnsafeBufferPointer(rebasing: table[0..<block]),
                                           into: UnsafeMutableBufferPointer(rebasing: out[start..<(start + block)]))
                }
            }
        }
        return y
    }

    /// The table's gradient sums dy over the leading axes; dx = dy.
    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let length = dy.shape[dy.rank - 2], block = length * features
        var grad = Tensor(zeros: weight.value.shape)
        grad.scalars.withUnsafeMutableBufferPointer { g in
            dy.scalars.withUnsafeBufferPointer { d in
                for start in stride(from: 0, to: d.count, by: block) {
                    Elementwise.accumulate(UnsafeBufferPointer(rebasing: d[start..<(start + block)]),
                                           into: UnsafeMutableBufferPointer(rebasing: g[0..<block]))
                }
            }
        }
        weight.grad = grad
        return needInputGradient ? dy : nil
    }
}

/// Scores against a table of output rows, y = x W^T with W (count, features) and no bias: a language model's
/// head. `tied` to an Embedding it shares that table (Press and Wolf 2017), listed under both names as PyTorch's
/// state_dict lists `lm_head.weight` beside `tok_emb.weight`.
public final class OutputProjection: Layer {
    public let count: Int, features: Int
    public let weight: Parameter
    public let isTied: Bool
    private var input = Tensor(zeros: [0])

    public init(tiedTo embedding: Embedding) {
        count = embedding.count
        features = embedding.features
        weight = embedding.weight
        isTied = true
        embedding.sharesGradient = true
    }

    /// An own table, initialised as PyTorch's Linear.
    public init(features: Int, count: Int, rng: inout SeededRandom) {
        self.count = count
        self.features = features
        let bound = 1 / Float(features).squareRoot()
        weight = Parameter("weight", Tensor(shape: [count, features], scalars: (0..<count * features).map { _ in (rng.nextFloat() * 2 - 1) * bound }))
        isTied = false
    }

    public var summary: String { "OutputProjection(\(features) -> \(count)\(isTied ? ", tied" : ""))" }
    public var parameters: [Parameter] { [weight] }

    public func outputShape(for input: [Int]) throws -> [Int] { try Self.outputShape(for: input, features: features, count: count) }

    public static func outputShape(for input: [Int], features: Int, count: Int) throws -> [Int] {
        guard input.last == features else { throw NeuralNetError("OutputProjection(\(features) -> \(count)) expects a last axis of \(features), got \(input)") }
        return Array(input.dropLast()) + [count]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.last == features, "\(summary) got \(x.shape)")
        input = x
        let rows = x.count / features
        let y = x.reshaped([rows, features]).matmul(weight.value, transposeOther: true)
        return y.reshaped(Array(x.shape.dropLast()) + [count])
    }

    /// Writes the table's gradient (the tied Embedding adds its own afterwards).
    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let rows = input.count / features
        let g = dy.reshaped([rows, count])
        weight.grad = g.matmul(input.reshaped([rows, features]), transposeSelf: true)
        guard needInputGradient else { return nil }
        return g.matmul(weight.value).reshaped(input.shape)
    }
}
