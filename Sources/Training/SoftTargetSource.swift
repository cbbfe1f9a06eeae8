import Compute
import NeuralNet

/// A batch as the training loop has it: the (augmented, normalised) images, labels and the student's logits, and
/// where the batch sits in the epoch's sample order (what a cluster's work items are cut along).
public struct TrainingBatch {
    public var images: Tensor
    public var labels: [Int32]
    public var logits: Tensor
    public var epoch: Int
    /// Positions in `epoch`'s sample order.
    public var positions: Range<Int>
}

/// Where a distilling student's soft targets come from: teachers in this process, or a cluster's teacher workers.
public protocol SoftTargetSource: AnyObject {
    /// (batch, classes) ensemble probabilities at the distillation temperature for `batch`; nil when they cannot
    /// come (`failure` says why) and training must stop.
    func targets(for batch: TrainingBatch) -> Tensor?
    var failure: String? { get }
    /// The training run is over (all its epochs, or stopped early).
    func finish()
}

/// The ensemble run here on each batch the student sees.
public final class InProcessTeachers: SoftTargetSource {
    public let teachers: [any Classifier]
    public let temperature: Float
    public let rule: Ensemble.Rule

    public init(_ teachers: [any Classifier], temperature: Float, rule: Ensemble.Rule = .probabilities) {
        self.teachers = teachers; self.temperature = temperature; self.rule = rule
    }

    public func targets(for batch: TrainingBatch) -> Tensor? { softTargets(batch.images) }

    public func softTargets(_ images: Tensor) -> Tensor {
        Ensemble.softTargets(teachers.map { $0.logits(images) }, temperature: temperature, rule: rule)
    }

    public var failure: String? { nil }
    public func finish() {}
}
