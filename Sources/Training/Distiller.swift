import Compute
import Datasets
import NeuralNet

public struct DistillationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Trains a student on an ensemble's soft targets plus the hard labels. The targets come from a source: teachers
/// in this process (they see exactly the augmented, normalised batch the student sees), or a cluster's teacher
/// workers. Fine-tuning after pruning uses it too.
public final class Distiller {
    public let student: Network
    public let source: any SoftTargetSource
    public let loss: DistillationLoss
    private let trainer: Trainer
    /// Runs after every optimizer step (see `Trainer.afterStep`).
    public var afterStep: (() -> Void)? {
        get { trainer.afterStep }
        set { trainer.afterStep = newValue }
    }

    public init(student: Network, source: any SoftTargetSource, config: TrainingConfig, normalization: Normalization?,
                temperature: Float, alpha: Float) {
        self.student = student
        self.source = source
        loss = DistillationLoss(alpha: alpha, temperature: temperature, teacherForm: .probabilities)
        trainer = Trainer(model: student, config: config, normalization: normalization)
    }

    /// Teachers in this process.
    public convenience init(student: Network, teachers: [any Classifier], config: TrainingConfig, normalization: Normalization?,
                            temperature: Float, alpha: Float, rule: Ensemble.Rule = .probabilities, weights: [Float]? = nil, passCuts: [Int] = []) {
        self.init(student: student, source: InProcessTeachers(teachers, temperature: temperature, rule: rule, weights: weights, passCuts: passCuts), config: config,
                  normalization: normalization, temperature: temperature, alpha: alpha)
    }

    /// Trains for `config.epochs` with the distillation loss; reports as `Trainer.fit` does. Throws when the
    /// source of soft targets failed.
    @discardableResult
    public func fit(_ train: LabeledImages, test: LabeledImages?, shouldStop: () -> Bool = { false },
                    onStep: (StepProgress) -> Void = { _ in }, onEpoch: (EpochReport) -> Void = { _ in }) throws -> [EpochReport] {
        defer { source.finish() }
        let reports = trainer.fit(train, test: test, shouldStop: shouldStop, onStep: onStep, onEpoch: onEpoch) { [self] batch in
            source.targets(for: batch).map { loss.compute(student: batch.logits, teacher: $0, labels: batch.labels).gradient }
        }
        if let failure = source.failure { throw DistillationError("soft targets: \(failure)") }
        return reports
    }
}
