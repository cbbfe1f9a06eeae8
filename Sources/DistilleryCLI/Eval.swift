import ArgumentParser
import Datasets
import Foundation
import Pipeline

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate checkpoints on a data set's test split.",
        discussion: """
        Applies the normalisation recorded in each checkpoint; an ONNX model (.onnx)
        reads pixels in [0, 1] unless --normalize says otherwise. One --model prints a
        line (with --json an object with accuracy, loss and samples); several print a
        markdown table (with --json an array).
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
        do { _ = try NormalizationSetting(parsing: normalize) } catch { throw ValidationError("--normalize: \(error)") }
    }

    func run() throws {
        compute.apply()
        // A text is cut by the (first) model's context.
        let text = try DataSource(dataOptions.data).isText
        let context = text ? try model.first.flatMap(ModelEvaluation.context(of:)) : nil
        if text && context == nil {
            throw ValidationError("\(model[0]) is no language model checkpoint: \(dataOptions.data) is text, evaluated with a gpt: checkpoint's context")
        }
        let split = try dataOptions.load(context: context)
        let results = try model.map { path in
            try ModelEvaluation.evaluate(path, on: split, normalize: try NormalizationSetting(parsing: normalize))
        }
        if json {
            if results.count == 1 { try Terminal.printJSON(results[0]) } else { try Terminal.printJSON(results) }
        } else if let only = results.first, results.count == 1 {
            let bits = only.bitsPerByte.map { String(format: " (%.3f bits per byte)", $0) } ?? ""
            Terminal.line("\(only.model) on \(only.data) test (\(only.samples) samples): accuracy \(formatted(only.accuracy)) loss \(formatted(only.loss))\(bits)")
        } else {
            Terminal.line(table(results))
        }
    }

    private func table(_ rows: [ModelEvaluation.Summary]) -> String {
        let header = ["model", "spec", "weights", "parameters", "bytes", "test accuracy", "test loss"]
        let cells = rows.map { r in
            [URL(fileURLWithPath: r.model).lastPathComponent, r.spec, r.format, "\(r.parameters)", "\(r.bytesOnDisk)",
             formatted(r.accuracy * 100, 2) + " %", formatted(r.loss)]
        }
        return MarkdownTable(header: header, rows: cells, rightAligned: [3, 4, 5, 6]).text
    }
}
