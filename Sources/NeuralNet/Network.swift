import Compute

/// A model: the module tree a `ModelSpec` describes, built with its weights, with PyTorch's parameter names.
public final class Network {
    public let spec: ModelSpec
    /// What was built: the spec's tree, or a tree stored in a checkpoint (a pruned network's narrower one).
    public let architecture: ModuleDescription
    public let root: Layer
    /// Per-sample output shape: (classes).
    public let outputShape: [Int]

    /// The spec's network with weights drawn from `seed`.
    public convenience init(_ spec: ModelSpec, seed: UInt64) throws {
        try self.init(spec, architecture: spec.architecture, seed: seed)
    }

    /// Checks the tree's shapes and memory before allocating anything, then builds it.
    public init(_ spec: ModelSpec, architecture: ModuleDescription, seed: UInt64) throws {
        outputShape = try architecture.outputShape(for: spec.inputShape)
        guard outputShape == spec.outputShape else {
            throw NeuralNetError("\(spec.text) ends in shape \(outputShape), not \(spec.isLanguageModel ? "the scores per position" : "the \(spec.classes) class scores") \(spec.outputShape)")
        }
        // Before any allocation: a spec of a billion units must fail here, not in malloc.
        if let problem = ModelSpec.memoryProblem(spec.text, values: architecture.storedValues) { throw NeuralNetError(problem) }
        self.spec = spec
        self.architecture = architecture
        var rng = SeededRandom(seed: seed, stream: 0x1A1E)
        root = try architecture.build(rng: &rng, seed: seed)
    }

    /// The same chain with some top-level layers replaced (quantization-aware training wraps its Conv2d and Linear
    /// layers); replacements must keep their parameters, so checkpoint names stay the same.
    public init(_ network: Network, layers: [Layer]) {
        precondition(layers.count == network.layers.count, "a replacement chain keeps the layer count")
        spec = network.spec
        architecture = network.architecture
        outputShape = network.outputShape
        root = Sequential(zip(network.topLevel, layers).map { ($0.name, $1) }, label: network.root.summary)
    }

    public var inputShape: [Int] { spec.inputShape }
    public var classes: Int { spec.classes }

    /// The root's children (the whole chain of an mlp: or cnn: network).
    public var topLevel: [(name: String, layer: Layer)] { root.children.isEmpty ? [("0", root)] : root.children }
    public var layers: [Layer] { topLevel.map(\.layer) }

    /// Every layer of the tree by path, parents first.
    public var namedModules: [(path: String, layer: Layer)] { Array(root.namedModules().dropFirst()) }

    /// Every parameter and buffer once, named by module path ("layer1.0.conv1.weight"), as PyTorch's
    /// `named_parameters()`: a table shared by two modules (weight tying) under its first name only.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        var seen = Set<ObjectIdentifier>()
        return root.namedParameters().filter { seen.insert(ObjectIdentifier($0.parameter)).inserted }
    }

    /// Every name of the tree's tensors, shared ones under each of their names, as PyTorch's `state_dict()`:
    /// what checkpoints store, so `load_state_dict(strict=True)` finds every key it expects.
    public var stateEntries: [(name: String, parameter: Parameter)] { root.namedParameters() }

    public var trainableParameters: [Parameter] { namedParameters.map(\.parameter).filter(\.isTrainable) }

    public var parameterCount: Int { trainableParameters.reduce(0) { $0 + $1.value.count } }

    /// Throws naming the first block (a layer with children) when `stage` only handles chains of layers.
    public func requireChain(for stage: String) throws {
        if let (path, layer) = namedModules.first(where: { !$0.layer.children.isEmpty }) {
            throw NeuralNetError("\(stage) handles chains of layers (mlp:, cnn:); \(spec.text) has '\(path)' (\(layer.summary)), which it cannot handle yet")
        }
    }

    /// x: (batch, input...) -> logits (batch, classes), or a language model's (batch, T, vocabulary) from int32 ids.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        root.forward(x, training: training)
    }

    /// Back-propagates dLoss/dlogits, setting every parameter's gradient; skips the input gradient.
    public func backward(_ gradient: Tensor) {
        _ = root.backward(gradient, needInputGradient: false)
    }
}
