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
    /// images (batch, sample...) -> logits (batch, classes), in inference mode; an imported model may fail (throws)
    /// where our own networks cannot.
    func logits(_ images: Tensor) throws -> Tensor
    /// Settles how the model reads samples stored as `sampleShape` ((c, h, w), or (features)), or throws naming
    /// both layouts; never a silent reshape of one layout into another.
    func prepare(forSamplesOf sampleShape: [Int]) throws
}

/// A model whose input does not fit the data's samples.
public struct ClassifierInputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Classifier {
    /// Our own networks flatten a (c, h, w) sample in that order, so any shape with their element count fits.
    public func prepare(forSamplesOf sampleShape: [Int]) throws {
        let values = sampleShape.reduce(1, *)
        guard values == inputSize else {
            throw ClassifierInputError("\(summary) reads \(inputSize) values per sample; the data's samples \(sampleShape) hold \(values)")
        }
    }
}

extension Network: Classifier {
    public var inputSize: Int { inputShape.reduce(1, *) }
    public var summary: String { spec.text }
    public func logits(_ images: Tensor) -> Tensor { forward(images, training: false) }
}
