import ArgumentParser
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
        let results = try InferenceBench(models: model, batchSize: batchSize, repeats: repeats, seconds: seconds).run()
        if json {
            if results.count == 1 { try Terminal.printJSON(results[0]) } else { try Terminal.printJSON(results) }
            return
        }
        for r in results {
            Terminal.line("\(r.model) (\(r.format)) batch \(batchSize), \(r.threads) threads: \(Int(r.samplesPerSecond)) samples/s (median of \(repeats))"
                + (r.ratioToFirst.map { ", \(formatted($0, 3))x the first" } ?? ""))
        }
    }
}
