import Compute

/// What a network is made of, as data: the tree of modules that builds it, stored in checkpoints (format 3) so a
/// network whose widths no spec grammar can write (a structurally pruned ResNet) still loads, and counted without
/// allocating anything. Every module carries its own sizes, as PyTorch's do (`Linear(in, out)`).
public indirect enum ModuleDescription: Sendable, Equatable {
    case linear(inFeatures: Int, outFeatures: Int)
    case conv2d(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int)
    case batchNorm(features: Int)
    case layerNorm(features: Int)
    case relu, relu6, silu
    case gelu(GELU.Approximation)
    case maxPool(kernel: Int)
    case avgPool(kernel: Int)
    case globalAvgPool
    case flatten
    case dropout(rate: Float)
    case embedding(count: Int, features: Int)
    case positionalEmbedding(context: Int, features: Int)
    /// `headFeatures` nil: features / heads (fewer heads of that width after structured pruning).
    case attention(features: Int, heads: Int, headFeatures: Int?)
    /// A bias-free projection onto `count` rows; `tiedTo` names an earlier sibling Embedding whose table it shares.
    case outputProjection(features: Int, count: Int, tiedTo: String?)
    /// `label` names the container's role in `inspect` ("BasicBlock").
    case sequential([Child], label: String)
    case graph([Child], nodes: [GraphNode], label: String)

    public struct Child: Sendable, Equatable {
        public var name: String
        public var module: ModuleDescription
        public init(_ name: String, _ module: ModuleDescription) { self.name = name; self.module = module }
    }

    /// Children named by position, as `nn.Sequential(a, b, c)`.
    public static func chain(_ modules: [ModuleDescription], label: String = "Sequential") -> ModuleDescription {
        .sequential(modules.enumerated().map { Child(String($0.offset), $0.element) }, label: label)
    }

    /// The module's kind as errors name it ("LayerNorm", "CausalSelfAttention").
    public var typeName: String {
        switch self {
        case .linear: return "Linear"
        case .conv2d: return "Conv2d"
        case .batchNorm: return "BatchNorm"
        case .layerNorm: return "LayerNorm"
        case .relu: return "ReLU"
        case .relu6: return "ReLU6"
        case .silu: return "SiLU"
        case .gelu: return "GELU"
        case .maxPool: return "MaxPool2d"
        case .avgPool: return "AvgPool2d"
        case .globalAvgPool: return "GlobalAvgPool2d"
        case .flatten: return "Flatten"
        case .dropout: return "Dropout"
        case .embedding: return "Embedding"
        case .positionalEmbedding: return "PositionalEmbedding"
        case .attention: return "CausalSelfAttention"
        case .outputProjection: return "OutputProjection"
        case .sequential: return "Sequential"
        case .graph: return "Graph"
        }
    }

    public var children: [Child] {
        switch self {
        case let .sequential(children, _), let .graph(children, _, _): return children
        default: return []
        }
    }

    /// Builds the layers, weights drawn from `rng` in tree order; dropout masks come from streams of `seed`.
    public func build(rng: inout SeededRandom, seed: UInt64) throws -> Layer {
        var dropouts: UInt64 = 0
        return try build(rng: &rng, seed: seed, dropouts: &dropouts)
    }

    private func build(rng: inout SeededRandom, seed: UInt64, dropouts: inout UInt64) throws -> Layer {
        switch self {
        case let .linear(i, o): return Linear(i, o, rng: &rng)
        case let .conv2d(i, o, k, s, p, g):
            guard g > 0, i % g == 0, o % g == 0 else {
                throw NeuralNetError("Conv2d(\(i) -> \(o)) with \(g) groups: both channel counts must divide by the groups")
            }
            return Conv2d(i, o, kernel: k, stride: s, padding: p, groups: g, rng: &rng)
        case let .batchNorm(f): return BatchNorm(f)
        case let .layerNorm(f): return LayerNorm(features: f)
        case .relu: return ReLU()
        case .relu6: return ReLU6()
        case .silu: return SiLU()
        case let .gelu(approximation): return GELU(approximation: approximation)
        case let .maxPool(k): return MaxPool2d(kernel: k)
        case let .avgPool(k): return AvgPool2d(kernel: k)
        case .globalAvgPool: return GlobalAvgPool2d()
        case .flatten: return Flatten()
        case let .dropout(rate):
            dropouts += 1
            return Dropout(rate: rate, seed: seed &+ dropouts)
        case let .embedding(count, features): return Embedding(count: count, features: features, rng: &rng)
        case let .positionalEmbedding(context, features): return PositionalEmbedding(context: context, features: features, rng: &rng)
        case let .attention(features, heads, width): return CausalSelfAttention(features: features, heads: heads, headFeatures: width, rng: &rng)
        case let .outputProjection(features, count, tiedTo):
            guard tiedTo == nil else { throw NeuralNetError("OutputProjection tied to '\(tiedTo!)' must sit in the same Sequential after it") }
            return OutputProjection(features: features, count: count, rng: &rng)
        case let .sequential(children, label):
            var built: [(name: String, layer: Layer)] = []
            for child in children {
                if case let .outputProjection(features, count, tiedTo?) = child.module {
                    guard let table = built.first(where: { $0.name == tiedTo })?.layer as? Embedding,
                          table.features == features, table.count == count else {
                        throw NeuralNetError.inside(child.name, NeuralNetError("OutputProjection(\(features) -> \(count)) is tied to '\(tiedTo)', which is no earlier Embedding(\(count), \(features)) beside it"))
                    }
                    built.append((child.name, OutputProjection(tiedTo: table)))
                } else {
                    built.append((child.name, try child.module.build(rng: &rng, seed: seed, dropouts: &dropouts)))
                }
            }
            return Sequential(built, label: label)
        case let .graph(children, nodes, label):
            return try Graph(try children.map { ($0.name, try $0.module.build(rng: &rng, seed: seed, dropouts: &dropouts)) },
                             nodes: nodes, label: label)
        }
    }

    /// The per-sample output shape for a per-sample input, checked module by module before anything is allocated;
    /// an error names the module path and both shapes.
    public func outputShape(for input: [Int]) throws -> [Int] {
        switch self {
        case let .linear(i, o):
            guard i > 0, o > 0 else { throw NeuralNetError("Linear(\(i) -> \(o)) needs positive sizes") }
            return try Linear.outputShape(for: input, inFeatures: i, outFeatures: o)
        case let .conv2d(i, o, k, s, p, g):
            guard i > 0, o > 0, k > 0, s > 0, p >= 0, g > 0, i % g == 0, o % g == 0 else {
                throw NeuralNetError("Conv2d(\(i) -> \(o), k=\(k), stride=\(s), pad=\(p), groups=\(g)) has sizes that make no convolution")
            }
            return try Conv2d.outputShape(for: input, inChannels: i, outChannels: o, kernel: k, stride: s, padding: p)
        case let .batchNorm(f): return try BatchNorm.outputShape(for: input, features: f)
        case let .layerNorm(f): return try LayerNorm.outputShape(for: input, features: f)
        case let .embedding(count, features):
            guard count > 0, features > 0 else { throw NeuralNetError("Embedding(\(count), \(features)) needs positive sizes") }
            return try Embedding.outputShape(for: input, count: count, features: features)
        case let .positionalEmbedding(context, features):
            guard context > 0, features > 0 else { throw NeuralNetError("PositionalEmbedding(\(context), \(features)) needs positive sizes") }
            return try PositionalEmbedding.outputShape(for: input, context: context, features: features)
        case let .attention(features, heads, width):
            guard features > 0 else { throw NeuralNetError("CausalSelfAttention(\(features)) needs positive sizes") }
            return try CausalSelfAttention.outputShape(for: input, features: features, heads: heads, headFeatures: width)
        case let .outputProjection(features, count, _):
            guard features > 0, count > 0 else { throw NeuralNetError("OutputProjection(\(features) -> \(count)) needs positive sizes") }
            return try OutputProjection.outputShape(for: input, features: features, count: count)
        case .dropout, .relu, .relu6, .silu, .gelu, .maxPool, .avgPool, .globalAvgPool, .flatten:
            var rng = SeededRandom(seed: 0)
            return try build(rng: &rng, seed: 0).outputShape(for: input)  // parameter-free: nothing to allocate
        case let .sequential(children, _):
            var shape = input
            for child in children {
                do { shape = try child.module.outputShape(for: shape) } catch { throw NeuralNetError.inside(child.name, error) }
            }
            return shape
        case let .graph(children, nodes, _):
            try Graph.validate(children.map(\.name), nodes)
            let byName = Dictionary(children.map { ($0.name, $0.module) }, uniquingKeysWith: { a, _ in a })
            return try Graph.outputShape(for: input, nodes: nodes) { try byName[$0]!.outputShape(for: $1) }
        }
    }

    /// Values the modules hold (weights, biases, BatchNorm's statistics), saturating at Int.max; sizes that make no
    /// sense count as nothing here (building the network says what is wrong with them).
    public var storedValues: Int {
        switch self {
        case let .linear(i, o): return Self.sum(Self.product(o, i), o)
        case let .conv2d(i, o, k, _, _, g): return g > 0 ? Self.sum(Self.product(o, i / g, k, k), o) : 0
        case let .batchNorm(f): return Self.product(4, f)
        case let .layerNorm(f): return Self.product(2, f)
        case let .embedding(count, features): return Self.product(count, features)
        case let .positionalEmbedding(context, features): return Self.product(context, features)
        case let .attention(d, heads, width):
            let inner = width.map { Self.product(heads, $0) } ?? d
            return Self.sum(Self.sum(Self.product(3, inner, d), Self.product(3, inner)), Self.sum(Self.product(d, inner), d))
        case let .outputProjection(features, count, tiedTo): return tiedTo == nil ? Self.product(count, features) : 0
        case let .sequential(children, _), let .graph(children, _, _):
            return children.reduce(0) { Self.sum($0, $1.module.storedValues) }
        default: return 0
        }
    }

    private static func product(_ values: Int...) -> Int {
        var p = 1
        for v in values {
            guard v > 0 else { return 0 }
            let (next, overflow) = p.multipliedReportingOverflow(by: v)
            if overflow { return Int.max }
            p = next
        }
        return p
    }

    private static func sum(_ a: Int, _ b: Int) -> Int {
        let (s, overflow) = a.addingReportingOverflow(max(b, 0))
        return overflow ? Int.max : s
    }
}
