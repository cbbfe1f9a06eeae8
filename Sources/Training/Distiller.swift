import Compute
import Datasets
import NeuralNet

/// Trains a student on an ensemble's soft targets plus the hard labels, in one process: the teachers
/// see exactly the (augmented, normalised) batch the student sees. The cluster does the same across
/// machines; this is also what fine-tuning after pruning uses when run alone.
public final class Distiller {
    public let student: Sequential
    public let teachers: [any Classifier]
    public let loss: DistillationLoss
    public let rule: Ensemble.Rule
    private let trainer: Trainer
    /// Runs after every optimizer step (see `Trainer.afterStep`).
    public var afterStep: (() -> Void)? {
        get { trainer.afterStep }
        set { trainer.afterStep = newValue }
    }

    public init(student: Sequential, teachers: [any Classifier], config: TrainingConfig, normalization: Normalization?,
                temperature: Float, alpha: Float, rule: Ensemble.Rule = .probabilities) {
        self.student = student
        self.teachers = teachers
        self.rule = rule
        loss = DistillationLoss(alpha: alpha, temperature: temperature, teacherForm: .probabilities)
        trainer = Trainer(model: student, config: config, normalization: normalization)
    }

    /// The ensemble's soft targets for a batch.
    public func softTargets(_ images: Tensor) -> Tensor {
        Ensemble.softTargets(teachers.map { $0.logits(images) }, temperature: loss.temperature, rule: rule)
    }

    /// Trains for `config.epochs` with the distillation loss; reports as `Trainer.fit` does.
    @discardableResult
    public func fit(_ train: LabeledImages, test: LabeledImages?, shouldStop: () -> Bool = { false },
                    onStep: (StepProgress) -> Void = { _ in }, onEpoch: (EpochReport) -> Void = { _ in }) -> [EpochReport] {
        trainer.fit(train, test: test, shouldStop: shouldStop, onStep: onStep, onEpoch: onEpoch) { [self] images, labels, logits in
            loss.compute(student: logits, teacher: softTargets(images), labels: labels).gradient
        }
    }
}
