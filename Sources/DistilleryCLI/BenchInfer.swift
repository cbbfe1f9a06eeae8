import ArgumentParser
import Compression
import Compute
import Foundation
import ONNX
import Pipeline

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Measure inference samples/s of checkpoints (float, pruned, int8 or ONNX) on synthetic inputs.",
        discussion: """
        Several --model files are timed in alternating rounds in this one
        process, so a noisy machine treats them alike; each reports the median
        round and, after the first, its speed as a ratio to the first.

        Example:
          distillery bench infer --model student.safetensors \\
            --model student-int8.safetensors --batch-size 256
        """
    )

    @Option(help: "A checkpoint or .onnx model; repeat to compare (ratios are against the first).")
    var model: [String]

    @Option(help: "Samples per forward pass.")
    var batchSize: Int = 256

    @Option(help: "Timed rounds; the median is reported.")
    var repeats: Int = 7

    @Option(help: "Seconds each round runs at least.")
    var seconds: Double = 0.3

    @Flag(help: "Print as JSON (key samples_per_second).")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one --model") }
        guard batchSize >= 1, repeats >= 1, seconds > 0 else { throw ValidationError("--batch-size, --repeats and --seconds must be positive") }
    }

    func run() throws {
        compute.apply()
        let loaded = try model.map(BenchInfer.load)
        let runners = loaded.map(\.run)
        var rng = SeededRandom(seed: 3)
        let inputs = loaded.map { l in
            Tensor(shape: [batchSize] + l.inputShape, scalars: (0..<(batchSize * l.inputShape.reduce(1, *))).map { _ in rng.nextFloat() })
        }
        for (runner, x) in zip(runners, inputs) { _ = try runner(x) }  // warm-up
        var rates = [[Double]](repeating: [], count: runners.count)
        for _ in 0..<repeats {
            for (i, (runner, x)) in zip(runners, inputs).enumerated() { rates[i].append(try InferenceTiming.round(runner, input: x, seconds: seconds)) }
        }
        let medians = rates.map(InferenceTiming.median)
        let results = zip(model, loaded).enumerated().map { i, pair in
            InferSummary(model: pair.0, format: pair.1.format, batchSize: batchSize, threads: ComputeThreads.current,
                         samplesPerSecond: medians[i], runs: rates[i], ratioToFirst: i == 0 ? nil : medians[i] / medians[0])
        }
        if json {
            if results.count == 1 { try Terminal.printJSON(results[0]) } else { try Terminal.printJSON(results) }
            return
        }
        for r in results {
            Terminal.line("\(r.model) (\(r.format)) batch \(batchSize), \(r.threads) threads: \(Int(r.samplesPerSecond)) samples/s (median of \(repeats))"
                + (r.ratioToFirst.map { ", \(formatted($0, 3))x the first" } ?? ""))
        }
    }

    /// A file's forward pass, per-sample input shape and storage format.
    static func load(_ path: String) throws -> (run: (Tensor) throws -> Tensor, inputShape: [Int], format: String) {
        if path.lowercased().hasSuffix(".onnx") {
            let model = try OnnxModel.load(URL(fileURLWithPath: path))
            return (model.logits, model.runner.sampleShape, "onnx")
        }
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        return (try contents.inference(), contents.model.inputShape, contents.format)
    }
}

struct InferSummary: Encodable {
    var model: String, format: String
    var batchSize: Int, threads: Int
    var samplesPerSecond: Double
    var runs: [Double]
    var ratioToFirst: Double?

    enum CodingKeys: String, CodingKey {
        case model, format, threads, runs
        case batchSize = "batch_size", samplesPerSecond = "samples_per_second", ratioToFirst = "ratio_to_first"
    }
}
