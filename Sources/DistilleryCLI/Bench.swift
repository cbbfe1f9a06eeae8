import ArgumentParser
import Compute
import Dispatch
import NeuralNet
import Pipeline
import Training

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
        guard TrainingConfig.OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--optimizer must be sgd or adam, got '\(optimizer)'")
        }
        _ = try ModelSpec(model)
    }

    func run() throws {
        compute.apply()
        let network = try Sequential(try ModelSpec(model), seed: 1)
        let kind = TrainingConfig.OptimizerKind(rawValue: optimizer)!
        let config = TrainingConfig(optimizer: kind, learningRate: kind == .sgd ? 0.01 : 1e-3, momentum: 0.9)
        let trainer = Trainer(model: network, config: config, normalization: nil)
        var rng = SeededRandom(seed: 7)
        let images = Tensor(shape: [batchSize] + network.inputShape,
                            scalars: (0..<(batchSize * network.inputShape.reduce(1, *))).map { _ in rng.nextFloat() })
        let labels = (0..<batchSize).map { _ in Int32(rng.nextInt(below: network.classes)) }
        for _ in 0..<warmup { _ = trainer.step(images: images, labels: labels) }
        var rates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { _ = trainer.step(images: images, labels: labels) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            rates.append(Double(steps * batchSize) / seconds)
        }
        let median = rates.sorted()[rates.count / 2]
        if json {
            try Terminal.printJSON(BenchSummary(model: network.spec.text, batchSize: batchSize, optimizer: optimizer,
                                                threads: ComputeThreads.current, samplesPerSecond: median, runs: rates))
        } else {
            Terminal.line("\(network.spec) batch \(batchSize) \(optimizer), \(ComputeThreads.current) threads: \(Int(median)) samples/s (median of \(repeats))")
        }
    }
}

struct BenchSummary: Encodable {
    var model: String
    var batchSize: Int
    var optimizer: String
    var threads: Int
    var samplesPerSecond: Double
    var runs: [Double]

    enum CodingKeys: String, CodingKey {
        case model, optimizer, threads, runs
        case batchSize = "batch_size", samplesPerSecond = "samples_per_second"
    }
}
