import ArgumentParser
import Compression
import Datasets
import Foundation
import Cluster
import NeuralNet
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate checkpoints on a data set's test split.",
        discussion: """
        Applies the normalisation recorded in each checkpoint; an ONNX model (.onnx) reads pixels in [0, 1] unless
        --normalize says otherwise. One --model prints a line (with --json an object with accuracy, loss and
        samples); several print a markdown table (with --json an array).
        """
    )

    @Option(help: "Checkpoint (.safetensors: float, pruned or int8) or ONNX model (.onnx); repeat to compare several.")
    var model: [String]

    @Option(help: "Input normalisation for .onnx models: none (pixels in [0, 1]), auto (fitted to the training split) or MEAN,STD.")
    var normalize = "none"

    @OptionGroup var dataOptions: DataOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one --model") }
    }

    func run() throws {
        compute.apply()
        let split = try dataOptions.load()
        let results = try model.map { path in
            path.lowercased().hasSuffix(".onnx") ? try evaluateONNX(path, split) : try evaluateCheckpoint(path, split)
        }
        if json {
            if results.count == 1 { try Terminal.printJSON(results[0]) } else { try Terminal.printJSON(results) }
        } else if let only = results.first, results.count == 1 {
            Terminal.line("\(only.model) on \(only.data) test (\(only.samples) samples): accuracy \(formatted(only.accuracy)) loss \(formatted(only.loss))")
        } else {
            Terminal.line(table(results))
        }
    }

    private func evaluateONNX(_ path: String, _ split: DataSplit) throws -> EvalSummary {
        let loaded = try TeacherModel.load(path, normalize: normalize, fittingTo: split.train)
        guard loaded.model.inputSize == split.test.sampleSize, Int(split.test.labels.max() ?? 0) < loaded.model.classes else {
            throw ValidationError("\(path) reads \(loaded.model.inputSize) values and scores \(loaded.model.classes) classes; \(split.name) does not fit")
        }
        let result = try Evaluation.run(loaded.model.logits, on: split.test, normalization: loaded.normalization)
        return EvalSummary(model: path, spec: loaded.model.summary, data: split.name, accuracy: result.accuracy, loss: result.loss,
                           samples: result.samples, parameters: loaded.model.parameterCount, bytesOnDisk: fileSize(path), format: "onnx")
    }

    private func evaluateCheckpoint(_ path: String, _ split: DataSplit) throws -> EvalSummary {
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let network = contents.model
        let normalization = try contents.metadata.normalize.map { try Normalization(parsing: $0) }
        try checkCompatible(network, split)
        let result = Evaluation.run(try contents.inference(), on: split.test, normalization: normalization)
        return EvalSummary(model: path, spec: network.spec.text, data: split.name, accuracy: result.accuracy, loss: result.loss,
                           samples: result.samples, parameters: network.parameterCount, bytesOnDisk: fileSize(path), format: contents.format)
    }

    private func table(_ rows: [EvalSummary]) -> String {
        let header = ["model", "spec", "weights", "parameters", "bytes", "test accuracy", "test loss"]
        let cells = rows.map { r in
            [URL(fileURLWithPath: r.model).lastPathComponent, r.spec, r.format, "\(r.parameters)", "\(r.bytesOnDisk)",
             formatted(r.accuracy * 100, 2) + " %", formatted(r.loss)]
        }
        return MarkdownTable(header: header, rows: cells, rightAligned: [3, 4, 5, 6]).text
    }
}

struct EvalSummary: Encodable {
    var model: String, spec: String, data: String
    var accuracy: Double, loss: Double
    var samples: Int
    var parameters: Int
    var bytesOnDisk: Int
    var format: String

    enum CodingKeys: String, CodingKey {
        case model, spec, data, accuracy, loss, samples, parameters, format
        case bytesOnDisk = "bytes_on_disk"
    }
}
