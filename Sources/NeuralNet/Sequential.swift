import Compute

/// A feed-forward network built from a `ModelSpec`: layers applied in order, gradients in reverse.
public final class Sequential {
    public let spec: ModelSpec
    public let layers: [Layer]

    /// Builds the spec's layers with weights drawn from `seed`; throws when the shapes do not chain.
    public init(_ spec: ModelSpec, seed: UInt64) throws {
        // Before any allocation: a spec of a billion units must fail here, not in malloc.
        if let problem = spec.memoryProblem { throw NeuralNetError(problem) }
        self.spec = spec
        var rng = SeededRandom(seed: seed, stream: 0x1A1E)
        var layers: [Layer] = []
        var shape = spec.inputShape
        func add(_ layer: Layer) throws {
            shape = try layer.outputShape(for: shape)
            layers.append(layer)
        }
        func flattenIfNeeded() throws {
            if shape.count > 1 { try add(Flatten()) }
        }
        if spec.inputShape.count == 1 { layers.append(Flatten()) }  // MLPs take images as they come
        for (index, stage) in spec.stages.enumerated() {
            switch stage {
            case let .conv(out, kernel, padding, stride, batchNorm):
                try add(Conv2d(shape.first ?? 0, out, kernel: kernel, stride: stride, padding: padding, rng: &rng))
                if batchNorm { try add(BatchNorm(out)) }
                try add(ReLU())
            case let .maxPool(kernel):
                try add(MaxPool2d(kernel: kernel))
            case let .dropout(rate):
                try add(Dropout(rate: rate, seed: seed &+ UInt64(index)))
            case let .hidden(out, batchNorm):
                try flattenIfNeeded()
                try add(Linear(shape[0], out, rng: &rng))
                if batchNorm { try add(BatchNorm(out)) }
                try add(ReLU())
            case let .classifier(classes):
                try flattenIfNeeded()
                try add(Linear(shape[0], classes, rng: &rng))
            }
        }
        self.layers = layers
    }

    /// The same network with some layers replaced (quantization-aware training wraps its Conv2d and Linear
    /// layers); replacements must keep their parameters, so checkpoint names stay the same.
    public init(_ spec: ModelSpec, layers: [Layer]) {
        self.spec = spec
        self.layers = layers
    }

    public var inputShape: [Int] { spec.inputShape }
    public var classes: Int { spec.classes }

    /// Every parameter and buffer, named "<layer index>.<name>" as PyTorch's nn.Sequential does.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { i, layer in layer.parameters.map { ("\(i).\($0.name)", $0) } }
    }

    public var trainableParameters: [Parameter] {
        layers.flatMap { $0.parameters.filter(\.isTrainable) }
    }

    public var parameterCount: Int { trainableParameters.reduce(0) { $0 + $1.value.count } }

    /// x: (batch, input...) -> logits (batch, classes)
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        layers.reduce(x) { $1.forward($0, training: training) }
    }

    /// Back-propagates dLoss/dlogits, setting every parameter's gradient; skips the input gradient.
    public func backward(_ gradient: Tensor) {
        var g = gradient
        for (i, layer) in layers.enumerated().reversed() {
            guard let next = layer.backward(g, needInputGradient: i > 0) else { break }
            g = next
        }
    }
}
