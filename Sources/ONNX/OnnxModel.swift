import Compute
import Foundation
import NeuralNet

/// An ONNX classifier: a graph whose output is float scores (batch, classes), confirmed by a trial run when the
/// model loads, so a shape error shows now rather than in the middle of a job.
public final class OnnxModel: Classifier {
    public let runner: OnnxRunner
    public let classes: Int
    public let parameterCount: Int
    /// How samples of the data are laid out for the graph's input (set by `prepare`).
    public private(set) var layout = InputLayout.asStored

    public static func load(_ url: URL) throws -> OnnxModel {
        try OnnxModel(try OnnxDecoder.load(url), source: url.path)
    }

    public init(_ model: OnnxModelDescription, source: String) throws {
        runner = try OnnxRunner(model, source: source)
        // Float weights, or int8 ones in a QDQ graph.
        parameterCount = model.graph.initializers.filter { $0.type.isFloat || $0.type == .int8 }.reduce(0) { $0 + $1.value.count }
        let batch = runner.fixedBatch ?? 2
        let trial = try runner.run(OnnxValue(shape: [batch] + runner.sampleShape, floats: [Float](repeating: 0, count: batch * runner.inputSize)))
        guard trial.isFloat, trial.shape.count == 2, trial.shape[0] == batch, trial.shape[1] > 0 else {
            throw OnnxError(file: source, "output '\(model.graph.outputs[0].name)' must be float scores (batch, classes), got \(trial.typeName) \(trial.shape)")
        }
        classes = trial.shape[1]
    }

    public var model: OnnxModelDescription { runner.model }
    public var inputSize: Int { runner.inputSize }
    public var summary: String {
        "onnx:\(URL(fileURLWithPath: runner.source).lastPathComponent) (\(model.graph.nodes.count) nodes, opset \(model.opset))"
    }

    public func prepare(forSamplesOf sampleShape: [Int]) throws {
        layout = try InputLayout(data: sampleShape, model: runner.sampleShape, source: runner.source)
    }

    /// Batches larger than a fixed-batch model's run in pieces of its size, the last one padded with zeros.
    public func logits(_ images: Tensor) throws -> Tensor {
        let batch = images.rows, inputSize = inputSize
        let piece = runner.fixedBatch ?? max(batch, 1)
        var out = Tensor(zeros: [batch, classes])
        for start in stride(from: 0, to: batch, by: piece) {
            let rows = min(piece, batch - start)
            var values = layout.arrange(images.scalars[(start * inputSize)..<((start + rows) * inputSize)])
            values += [Float](repeating: 0, count: (piece - rows) * inputSize)
            let result = try runner.run(OnnxValue(shape: [piece] + runner.sampleShape, floats: values))
            guard case let .float(scores) = result.storage, scores.count >= rows * classes else {
                throw OnnxError(file: runner.source, "the output stopped being float scores (batch, \(classes)): \(result.typeName) \(result.shape)")
            }
            out.scalars.replaceSubrange((start * classes)..<((start + rows) * classes), with: scores[..<(rows * classes)])
        }
        return out
    }
}
