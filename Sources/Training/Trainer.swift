import Compute
import Datasets
import Foundation
import NeuralNet

/// What a finished epoch reports.
public struct EpochReport: Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var test: Evaluation.Result?
    public var samplesPerSecond: Double
    public var learningRate: Float
}

/// Progress within an epoch, for a live bar.
public struct StepProgress: Sendable {
    public var epoch: Int, epochs: Int
    public var samplesDone: Int, samplesTotal: Int
    public var runningLoss: Double
    public var samplesPerSecond: Double
}

/// Supervised training on hard labels: seeded shuffling, optional augmentation, one optimizer step per batch.
public final class Trainer {
    public let model: Sequential
    public let config: TrainingConfig
    public let normalization: Normalization?
    private let optimizer: Optimizer
    /// Runs after every optimizer step: pruning uses it to keep pruned weights at zero.
    public var afterStep: (() -> Void)?

    public init(model: Sequential, config: TrainingConfig, normalization: Normalization?) {
        self.model = model
        self.config = config
        self.normalization = normalization
        self.optimizer = config.makeOptimizer()
    }

    /// The gradient of the training loss with respect to the batch's logits; nil stops training (before the step).
    public typealias LossGradient = (TrainingBatch) -> Tensor?

    /// One optimizer step on a batch; returns the hard-label loss and how many predictions were right, or nil
    /// when `lossGradient` gave none. `lossGradient` replaces cross-entropy as what is minimised (the distiller
    /// passes its KD loss).
    public func step(images: Tensor, labels: [Int32], epoch: Int = 0, positions: Range<Int> = 0..<0, indices: [Int] = [],
                     lossGradient: LossGradient? = nil) -> (loss: Float, correct: Int)? {
        let logits = model.forward(images, training: true)
        let result = CrossEntropy.compute(logits: logits, labels: labels)
        var gradient = result.gradient
        if let lossGradient {
            let batch = TrainingBatch(images: images, labels: labels, logits: logits, epoch: epoch, positions: positions, indices: indices,
                                      augmented: !config.augmentation.isIdentity)
            guard let g = lossGradient(batch) else { return nil }
            gradient = g
        }
        model.backward(gradient)
        optimizer.step(model.trainableParameters)
        afterStep?()
        return (result.loss, Evaluation.countCorrect(logits, labels))
    }

    /// Trains for `config.epochs`; `shouldStop` is polled between steps for a clean early exit.
    /// Returns the reports of the epochs that finished.
    @discardableResult
    public func fit(_ train: LabeledImages, test: LabeledImages?,
                    shouldStop: () -> Bool = { false },
                    onStep: (StepProgress) -> Void = { _ in },
                    onEpoch: (EpochReport) -> Void = { _ in },
                    lossGradient: LossGradient? = nil) -> [EpochReport] {
        var reports: [EpochReport] = []
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        for epoch in 0..<config.epochs {
            let order = LabeledImages.epochOrder(count: train.count, seed: config.seed, epoch: epoch)
            let started = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, correct = 0, seen = 0
            for stepIndex in 0..<stepsPerEpoch {
                if shouldStop() { return reports }
                optimizer.learningRate = config.schedule.rate(
                    base: config.learningRate, epoch: Double(epoch) + Double(stepIndex) / Double(stepsPerEpoch),
                    totalEpochs: config.epochs)
                let positions = (stepIndex * config.batchSize)..<min((stepIndex + 1) * config.batchSize, train.count)
                let indices = Array(order[positions])
                let batch = train.batch(indices, augmentation: config.augmentation,
                                        augmentationSeed: augmentationSeed(epoch: epoch), normalization: normalization)
                guard let (loss, right) = step(images: batch.images, labels: batch.labels, epoch: epoch, positions: positions,
                                               indices: indices, lossGradient: lossGradient) else { return reports }
                lossSum += Double(loss) * Double(indices.count)
                correct += right
                seen += indices.count
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                onStep(StepProgress(epoch: epoch, epochs: config.epochs, samplesDone: seen, samplesTotal: train.count,
                                    runningLoss: lossSum / Double(seen), samplesPerSecond: Double(seen) / max(elapsed, 1e-9)))
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let report = EpochReport(
                epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                test: test.map { Evaluation.run(model, on: $0, normalization: normalization) },
                samplesPerSecond: Double(seen) / max(elapsed, 1e-9), learningRate: optimizer.learningRate)
            reports.append(report)
            onEpoch(report)
        }
        return reports
    }

    /// The per-epoch augmentation seed; the cluster sends the same value in work items.
    public func augmentationSeed(epoch: Int) -> UInt64 { Trainer.augmentationSeed(seed: config.seed, epoch: epoch) }

    public static func augmentationSeed(seed: UInt64, epoch: Int) -> UInt64 {
        var rng = SeededRandom(seed: seed, stream: 0xA06, UInt64(epoch))
        return rng.next()
    }
}
