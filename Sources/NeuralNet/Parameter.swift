import Compute

/// A named tensor of a layer: trainable weights carry a gradient; buffers (BatchNorm's running
/// statistics) are saved with the model but never stepped by an optimizer.
public final class Parameter {
    public let name: String
    public var value: Tensor
    /// Set by the owning layer's `backward`; same shape as `value`.
    public var grad: Tensor
    public let isTrainable: Bool

    public init(_ name: String, _ value: Tensor, trainable: Bool = true) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: trainable ? value.shape : [0])
        self.isTrainable = trainable
    }
}

/// One stage of a network. `forward` caches what `backward` needs, in evaluation too (pruning scores
/// back-propagate through an evaluating network); `backward` sets the gradients of
/// the layer's parameters and returns the gradient with respect to the input when asked.
public protocol Layer: AnyObject {
    /// A one-line description, e.g. "Linear(784 -> 1200)".
    var summary: String { get }
    /// The layer's own tensors; a container's are its children's, reached through `children`.
    var parameters: [Parameter] { get }
    /// Named sub-modules, as PyTorch's `named_children()`: parameter names join the path with dots.
    var children: [(name: String, layer: Layer)] { get }
    /// The per-sample output shape for a per-sample input shape (batch excluded).
    func outputShape(for input: [Int]) throws -> [Int]
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor?
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var children: [(name: String, layer: Layer)] { [] }
}

/// Errors in model descriptions and shapes; `modulePath` says where in the tree (`layer1.0.conv2`).
public struct NeuralNetError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let modulePath: [String]
    public init(_ message: String) { self.message = message; modulePath = [] }
    private init(message: String, modulePath: [String]) { self.message = message; self.modulePath = modulePath }

    public var description: String {
        modulePath.isEmpty ? message : "module '\(modulePath.joined(separator: "."))': \(message)"
    }

    /// `error` raised inside the child `name`: its path gains `name` in front.
    public static func inside(_ name: String, _ error: Error) -> NeuralNetError {
        guard let inner = error as? NeuralNetError else { return NeuralNetError(message: "\(error)", modulePath: [name]) }
        return NeuralNetError(message: inner.message, modulePath: [name] + inner.modulePath)
    }
}
