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
    var parameters: [Parameter] { get }
    /// The per-sample output shape for a per-sample input shape (batch excluded).
    func outputShape(for input: [Int]) throws -> [Int]
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor?
}

extension Layer {
    public var parameters: [Parameter] { [] }
}

/// Errors in model descriptions and shapes.
public struct NeuralNetError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
