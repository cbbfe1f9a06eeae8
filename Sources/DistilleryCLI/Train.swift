import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on hard labels and save it as a safetensors checkpoint.",
        discussion: """
        Prints one line per epoch (loss, accuracy, samples/s) and, on a terminal, a live progress bar.
        SIGINT/SIGTERM stop after the current step and save what was trained so far.

        Example:
          distillery train --model mlp:784-1200-1200-10 --data fashion-mnist --epochs 10 \\
            --batch-size 128 --optimizer adam --lr 0.001 --seed 1 --out mlp.safetensors
        """
    )

    @Option(help: "Model spec, e.g. mlp:784-1200-1200-10, cnn:1x28x28:c32bn-p-c64bn-p-f128-10, lenet5, cnn-small.")
    var model: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Passes over the training set.")
    var epochs: Int = 10

    @Option(help: "Samples per optimizer step.")
    var batchSize: Int = 128

    @Option(help: "Optimizer: sgd or adam.")
    var optimizer: String = "adam"

    @Option(name: .customLong("lr"), help: "Learning rate.")
    var learningRate: Float = 1e-3

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Flag(help: "Use Nesterov momentum (SGD).")
    var nesterov = false

    @Option(help: "L2 weight decay.")
    var weightDecay: Float = 0

    @Option(help: "Learning-rate schedule: constant, step:EVERY:GAMMA (epochs) or cosine[:MIN].")
    var schedule: String = "constant"

    @Option(help: "Seed for weights, shuffling, dropout and augmentation.")
    var seed: UInt64 = 0

    @Option(help: "Random translation by up to N pixels (pad and crop).")
    var augmentTranslate: Int = 0

    @Flag(help: "Random horizontal flips.")
    var augmentFlip = false

    @Option(help: "Input normalisation: none, auto (fit to the training set) or MEAN,STD (per channel: M1/M2/M3,S1/S2/S3).")
    var normalize: String = "none"

    @Option(help: "Where to write the checkpoint (.safetensors).")
    var out: String

    @Flag(help: "Print the final report as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard TrainingConfig.OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--optimizer must be sgd or adam, got '\(optimizer)'")
        }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--lr must be positive, got \(learningRate)") }
        guard augmentTranslate >= 0 else { throw ValidationError("--augment-translate must be >= 0") }
        if nesterov && momentum <= 0 { throw ValidationError("--nesterov needs --momentum > 0") }
        _ = try parsedSchedule()
        _ = try ModelSpec(model)
    }

    private func parsedSchedule() throws -> LearningRateSchedule {
        do { return try LearningRateSchedule.parse(schedule) } catch { throw ValidationError("--schedule: \(error)") }
    }

    func run() throws {
        compute.apply()
        StopSignal.install()
        let split = try dataOptions.load()
        let network = try Sequential(try ModelSpec(model), seed: seed)
        try checkCompatible(network, split.train, dataName: split.name)
        let normalization: Normalization? = switch normalize {
        case "none": nil
        case "auto": Normalization.fitted(to: split.train)
        default: try Normalization(parsing: normalize)
        }
        let config = TrainingConfig(
            epochs: epochs, batchSize: batchSize, optimizer: TrainingConfig.OptimizerKind(rawValue: optimizer)!,
            learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay,
            schedule: try parsedSchedule(), seed: seed,
            augmentation: Augmentation(translate: augmentTranslate, horizontalFlip: augmentFlip))
        if !json {
            Terminal.status("training \(network.spec) (\(network.parameterCount) parameters) on \(split.name): \(split.train.count) train, \(split.test.count) test samples")
        }
        let trainer = Trainer(model: network, config: config, normalization: normalization)
        let started = Date()
        let reports = trainer.fit(
            split.train, test: split.test, shouldStop: { StopSignal.isRequested },
            onStep: { p in
                let fraction = Double(p.samplesDone) / Double(p.samplesTotal)
                Terminal.progress("epoch \(p.epoch + 1)/\(p.epochs) \(Terminal.bar(fraction)) \(Int(fraction * 100))% loss \(formatted(p.runningLoss)) \(Int(p.samplesPerSecond)) samples/s")
            },
            onEpoch: { r in
                Terminal.clearProgress()
                let test = r.test.map { " test_loss \(formatted($0.loss)) test_acc \(formatted($0.accuracy))" } ?? ""
                let line = "epoch \(r.epoch + 1)/\(epochs) loss \(formatted(r.trainLoss)) acc \(formatted(r.trainAccuracy))\(test) lr \(r.learningRate) \(Int(r.samplesPerSecond)) samples/s"
                if json { Terminal.status(line) } else { Terminal.line(line) }
            })
        Terminal.clearProgress()
        let interrupted = reports.count < epochs
        var metadata = provenance(config: config, dataName: split.name, epochsDone: reports.count)
        if let normalization { metadata["distillery.normalize"] = normalization.text }
        if let last = reports.last?.test { metadata["distillery.test_accuracy"] = "\(last.accuracy)" }
        try Checkpoint.save(network, metadata: metadata, to: URL(fileURLWithPath: out))
        let summary = TrainSummary(model: network.spec.text, out: out, epochs: reports.count, interrupted: interrupted,
                                   testAccuracy: reports.last?.test?.accuracy, testLoss: reports.last?.test?.loss,
                                   samplesPerSecond: reports.last?.samplesPerSecond,
                                   seconds: Date().timeIntervalSince(started))
        if json {
            try Terminal.printJSON(summary)
        } else {
            Terminal.line("\(interrupted ? "interrupted after \(reports.count) epochs; " : "")saved \(out)")
        }
        if interrupted { throw ExitCode(130) }
    }

    private func provenance(config: TrainingConfig, dataName: String, epochsDone: Int) -> [String: String] {
        [
            "distillery.data": dataName,
            "distillery.epochs": "\(epochsDone)",
            "distillery.batch_size": "\(config.batchSize)",
            "distillery.optimizer": config.optimizer.rawValue,
            "distillery.lr": "\(config.learningRate)",
            "distillery.schedule": schedule,
            "distillery.seed": "\(config.seed)",
            "distillery.augment": "translate=\(config.augmentation.translate),flip=\(config.augmentation.horizontalFlip)",
            "distillery.created": ISO8601DateFormatter().string(from: Date()),
        ]
    }
}

struct TrainSummary: Encodable {
    var model: String
    var out: String
    var epochs: Int
    var interrupted: Bool
    var testAccuracy: Double?
    var testLoss: Double?
    var samplesPerSecond: Double?
    var seconds: Double

    enum CodingKeys: String, CodingKey {
        case model, out, epochs, interrupted, seconds
        case testAccuracy = "test_accuracy", testLoss = "test_loss", samplesPerSecond = "samples_per_second"
    }
}
