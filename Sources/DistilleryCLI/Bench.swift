import ArgumentParser
import NeuralNet
import Pipeline

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (print medians; compare against a reference run side by side).",
        subcommands: [BenchTrain.self, BenchInfer.self, BenchCoordinator.self]
    )
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Measure training samples/s of a model on synthetic data.",
        discussion: """
        Runs --repeats timed blocks of --steps optimizer steps after a warm-up and
        reports the median block. Benchmarks/train_vs_torch.sh runs the same model in
        PyTorch side by side and prints the ratio.
        """
    )

    @Option(help: "Model spec, e.g. mlp:784-1200-1200-10.")
    var model: String

    @Option(help: "Samples per step.")
    var batchSize: Int = 128

    @Option(help: "Optimizer: adam (the default of train) or sgd (momentum 0.9).")
    var optimizer: String = "adam"

    @Option(help: "Steps per timed block.")
    var steps: Int = 50

    @Option(help: "Timed blocks; the median is reported.")
    var repeats: Int = 5

    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 10

    @Flag(help: "Print as JSON (key samples_per_second).")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard batchSize >= 1, steps >= 1, repeats >= 1, warmup >= 0 else {
            throw ValidationError("--batch-size, --steps and --repeats must be positive, --warmup non-negative")
        }
        guard OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--optimizer must be sgd or adam, got '\(optimizer)'")
        }
        _ = try ModelSpec(model)
    }

    func run() throws {
        compute.apply()
        let bench = TrainingBench(model: try ModelSpec(model), batchSize: batchSize, optimizer: OptimizerKind(rawValue: optimizer)!,
                                  steps: steps, repeats: repeats, warmup: warmup)
        let summary = try bench.run()
        if json { try Terminal.printJSON(summary); return }
        Terminal.line("\(summary.model) batch \(batchSize) \(optimizer), \(summary.threads) threads: \(Int(summary.samplesPerSecond)) samples/s (median of \(repeats))")
    }
}
