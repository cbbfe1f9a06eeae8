import Compute

/// Children applied in order, gradients in reverse: PyTorch's `nn.Sequential`, named "0", "1", ... or by name.
public final class Sequential: Layer {
    public let children: [(name: String, layer: Layer)]
    private let label: String

    /// `label` is what `inspect` shows for the container ("Sequential", "BasicBlock stage").
    public init(_ children: [(name: String, layer: Layer)], label: String = "Sequential") {
        self.children = children
        self.label = label
    }

    /// Children named by their position.
    public convenience init(_ layers: [Layer], label: String = "Sequential") {
        self.init(layers.enumerated().map { (String($0.offset), $0.element) }, label: label)
    }

    public var layers: [Layer] { children.map(\.layer) }
    public var summary: String { label }

    public func outputShape(for input: [Int]) throws -> [Int] {
        var shape = input
        for (name, layer) in children {
            do { shape = try layer.outputShape(for: shape) } catch { throw NeuralNetError.inside(name, error) }
        }
        return shape
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        children.reduce(x) { $1.layer.forward($0, training: training) }
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        var g = dy
        for (i, child) in children.enumerated().reversed() {
            guard let next = child.layer.backward(g, needInputGradient: i > 0 || needInputGradient) else { return nil }
            g = next
        }
        return g
    }
}
