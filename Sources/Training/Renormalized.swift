import Compute
import Datasets
import NeuralNet

/// A model fed inputs prepared for another: undoes the normalisation the batch has (`from`) and applies the one
/// the model was trained with (`to`). Lets an ONNX teacher that reads raw pixels teach a normalised student.
public final class Renormalized: Classifier {
    public let model: any Classifier
    public let from: Normalization?, to: Normalization?
    /// Undoes `from`: x * std + mean, as a normalisation of its own.
    private let inverse: Normalization?

    /// `model` itself when the two agree.
    public static func adapt(_ model: any Classifier, from: Normalization?, to: Normalization?) -> any Classifier {
        from == to ? model : Renormalized(model, from: from, to: to)
    }

    init(_ model: any Classifier, from: Normalization?, to: Normalization?) {
        self.model = model; self.from = from; self.to = to
        inverse = from.map { Normalization(mean: zip($0.mean, $0.std).map { -$0 / $1 }, std: $0.std.map { 1 / $0 }) }
    }

    public var classes: Int { model.classes }
    public var inputSize: Int { model.inputSize }
    public var parameterCount: Int { model.parameterCount }
    public var summary: String { model.summary }

    public func prepare(forSamplesOf sampleShape: [Int]) throws { try model.prepare(forSamplesOf: sampleShape) }

    public func logits(_ images: Tensor) throws -> Tensor {
        var x = images
        inverse?.apply(to: &x)
        to?.apply(to: &x)
        return try model.logits(x)
    }
}
