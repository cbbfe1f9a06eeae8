import Compute

/// Anything that maps a batch of samples to class scores: our own networks and imported (ONNX) models alike,
/// so either can be an ensemble member.
public protocol Classifier: AnyObject {
    var classes: Int { get }
    /// Values per sample the model reads.
    var inputSize: Int { get }
    var parameterCount: Int { get }
    /// One line: the spec of our networks, the file and graph of an imported model.
    var summary: String { get }
    /// images (batch, sample...) -> logits (batch, classes), in inference mode.
    func logits(_ images: Tensor) -> Tensor
}

extension Sequential: Classifier {
    public var inputSize: Int { inputShape.reduce(1, *) }
    public var summary: String { spec.text }
    public func logits(_ images: Tensor) -> Tensor { forward(images, training: false) }
}
