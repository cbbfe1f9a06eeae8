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
    public let model: Network
    public let config: TrainingConfig
    public let normalization: Normalization?
    private let optimizer: Optimizer
    /// Runs after every optimizer step: pruning uses it to keep pruned weights at zero.
    public var afterStep: (() -> Void)?

    public init(model: Network, config: TrainingConfig, normalization: Normalization?) {
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
        let batch = TrainingBatch(images: images, labels: labels, logits: Tensor(zeros: [0]), epoch: epoch, positions: positions, indices: indices,
                                  augmented: !config.augmentation.isIdentity)
        return step(batch, lossGradient: { batch, crossEntropy in lossGradient.map { $0(batch) } ?? crossEntropy }, beforeUpdate: {})
    }

    /// forward, the loss's gradient (given the batch and cross-entropy's), backward, `beforeUpdate`, the optimizer.
    private func step(_ input: TrainingBatch, lossGradient: (TrainingBatch, Tensor) throws -> Tensor?,
                      beforeUpdate: () throws -> Void) rethrows -> (loss: Float, correct: Int)? {
        var batch = input
        let logits = model.forward(batch.images, training: true)
        // A language model's scores (batch, T, vocabulary) are one row per position: losses see (batch * T, vocabulary).
        batch.logits = logits.rank > 2 ? logits.reshaped([logits.count / logits.shape.last!, logits.shape.last!]) : logits
        let result = CrossEntropy.compute(logits: batch.logits, labels: batch.labels)
        guard let gradient = try lossGradient(batch, result.gradient) else { return nil }
        model.backward(gradient.reshaped(logits.shape))
        try beforeUpdate()
        optimizer.step(model.trainableParameters)
        afterStep?()
        return (result.loss, Evaluation.countCorrect(batch.logits, batch.labels))
    }

    /// Trains for `config.epochs`; `shouldStop` is polled between steps for a clean early exit.
    /// Returns the reports of the epochs that finished.
    @discardableResult
    public func fit(_ train: LabeledImages, test: LabeledImages?,
                    shouldStop: () -> Bool = { false },
                    onStep: (StepProgress) -> Void = { _ in },
                    onEpoch: (EpochReport) -> Void = { _ in },
                    lossGradient: LossGradient? = nil) -> [EpochReport] {
        loop(train, shouldStop: shouldStop, share: { $0 },
             lossGradient: { batch, crossEntropy in lossGradient.map { $0(batch) } ?? crossEntropy },
             beforeUpdate: { _, _ in }, afterUpdate: { _, _, _ in },
             evaluate: { model in test.map { Evaluation.run(model, on: $0, normalization: normalization) } },
             onStep: onStep, onEpoch: onEpoch)
    }

    /// What a data-parallel replica changes in the loop (the student daemon's): its share of each batch, the
    /// gradient exchange between backward and the optimizer step, what follows each step, and its evaluation.
    public struct Replica {
        /// This replica's share of a batch's positions in the epoch order.
        public var share: (Range<Int>) -> Range<Int>
        /// The loss's gradient for this replica's share (it may wait for soft targets); nil stops training.
        public var lossGradient: (TrainingBatch) throws -> Tensor?
        /// Between backward and the optimizer step, every step (also with an empty share): the step's number and
        /// how many samples this replica computed. Replicas average their gradients here.
        public var beforeUpdate: (_ step: Int, _ samples: Int) throws -> Void
        /// After each optimizer step: the epoch, the batch's positions (all replicas'), the samples computed here.
        public var afterUpdate: (_ epoch: Int, _ batch: Range<Int>, _ samples: Int) throws -> Void
        /// The test result of each epoch (nil: none).
        public var evaluate: (Network) throws -> Evaluation.Result?
        /// After each epoch, with its report.
        public var onEpoch: (EpochReport) throws -> Void

        public init(share: @escaping (Range<Int>) -> Range<Int>, lossGradient: @escaping (TrainingBatch) throws -> Tensor?,
                    beforeUpdate: @escaping (Int, Int) throws -> Void, afterUpdate: @escaping (Int, Range<Int>, Int) throws -> Void,
                    evaluate: @escaping (Network) throws -> Evaluation.Result?, onEpoch: @escaping (EpochReport) throws -> Void) {
            self.share = share; self.lossGradient = lossGradient; self.beforeUpdate = beforeUpdate
            self.afterUpdate = afterUpdate; self.evaluate = evaluate; self.onEpoch = onEpoch
        }
    }

    /// The same loop as `fit`, run as one replica of several: the same order, batches, schedule and seeds, so one
    /// replica alone trains exactly as `fit` does.
    @discardableResult
    public func fit(_ train: LabeledImages, as replica: Replica, shouldStop: () -> Bool = { false }) throws -> [EpochReport] {
        try loop(train, shouldStop: shouldStop, share: replica.share, lossGradient: { batch, _ in try replica.lossGradient(batch) },
                 beforeUpdate: replica.beforeUpdate, afterUpdate: replica.afterUpdate, evaluate: replica.evaluate,
                 onStep: { _ in }, onEpoch: replica.onEpoch)
    }

    /// The one training loop: seeded epoch order, batches of `config.batchSize` positions (this process's `share`
    /// of each), the learning-rate schedule per step, an optimizer step per batch, a report per epoch.
    private func loop(_ train: LabeledImages, shouldStop: () -> Bool, share: (Range<Int>) -> Range<Int>,
                      lossGradient: (TrainingBatch, Tensor) throws -> Tensor?,
                      beforeUpdate: (_ step: Int, _ samples: Int) throws -> Void,
                      afterUpdate: (_ epoch: Int, _ batch: Range<Int>, _ samples: Int) throws -> Void,
                      evaluate: (Network) throws -> Evaluation.Result?,
                      onStep: (StepProgress) -> Void, onEpoch: (EpochReport) throws -> Void) rethrows -> [EpochReport] {
        var reports: [EpochReport] = []
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        var stepNumber = 0
        for epoch in 0..<config.epochs {
            let order = LabeledImages.epochOrder(count: train.count, seed: config.seed, epoch: epoch)
            let started = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, correct = 0, seen = 0, scored = 0
            for stepIndex in 0..<stepsPerEpoch {
                if shouldStop() { return reports }
                optimizer.learningRate = config.schedule.rate(
                    base: config.learningRate, epoch: Double(epoch) + Double(stepIndex) / Double(stepsPerEpoch),
                    totalEpochs: config.epochs)
                let whole = (stepIndex * config.batchSize)..<min((stepIndex + 1) * config.batchSize, train.count)
                let positions = share(whole)
                let number = stepNumber
                if positions.isEmpty {
                    // Nothing here to compute, but the step is taken in step with the other replicas.
                    try beforeUpdate(number, 0)
                    optimizer.step(model.trainableParameters)
                    afterStep?()
                } else {
                    let indices = Array(order[positions])
                    let data = train.batch(indices, augmentation: config.augmentation,
                                           augmentationSeed: augmentationSeed(epoch: epoch), normalization: normalization)
                    let batch = TrainingBatch(images: data.images, labels: data.labels, logits: Tensor(zeros: [0]), epoch: epoch,
                                              positions: positions, indices: indices, augmented: !config.augmentation.isIdentity)
                    guard let (loss, right) = try step(batch, lossGradient: lossGradient,
                                                       beforeUpdate: { try beforeUpdate(number, indices.count) }) else { return reports }
                    lossSum += Double(loss) * Double(indices.count)
                    correct += right
                    seen += indices.count
                    scored += data.labels.count  // every position of a language model's windows
                }
                stepNumber += 1
                try afterUpdate(epoch, whole, positions.count)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                onStep(StepProgress(epoch: epoch, epochs: config.epochs, samplesDone: seen, samplesTotal: train.count,
                                    runningLoss: lossSum / Double(max(seen, 1)), samplesPerSecond: Double(seen) / max(elapsed, 1e-9)))
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let report = EpochReport(
                epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(scored, 1)),
                test: try evaluate(model),
                samplesPerSecond: Double(seen) / max(elapsed, 1e-9), learningRate: optimizer.learningRate)
            reports.append(report)
            try onEpoch(report)
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
