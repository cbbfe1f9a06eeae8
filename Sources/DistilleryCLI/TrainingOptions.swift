import ArgumentParser
import Datasets
import NeuralNet
import Training

/// The optimisation settings `train` and `distill` share.
struct TrainingOptions: ParsableArguments {
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
    }

    func parsedSchedule() throws -> LearningRateSchedule {
        do { return try LearningRateSchedule.parse(schedule) } catch { throw ValidationError("--schedule: \(error)") }
    }

    func config() throws -> TrainingConfig {
        TrainingConfig(
            epochs: epochs, batchSize: batchSize, optimizer: TrainingConfig.OptimizerKind(rawValue: optimizer)!,
            learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay,
            schedule: try parsedSchedule(), seed: seed,
            augmentation: Augmentation(translate: augmentTranslate, horizontalFlip: augmentFlip))
    }

    /// What the checkpoint records about the run.
    func provenance(dataName: String, epochsDone: Int) -> CheckpointMetadata {
        var m = CheckpointMetadata()
        m.data = dataName
        m.epochs = epochsDone
        m.batchSize = batchSize
        m.optimizer = optimizer
        m.learningRate = Double("\(learningRate)")
        m.schedule = schedule
        m.seed = seed
        m.augment = "translate=\(augmentTranslate),flip=\(augmentFlip)"
        return m
    }
}
