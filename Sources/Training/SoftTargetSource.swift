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
    /// The samples (indices into the training set) at those positions.
    public var indices: [Int]
    /// Whether the images were augmented (else each sample's image is the same every epoch).
    public var augmented: Bool
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

/// The ensemble run here on each batch the student sees. Without augmentation a sample's image never changes, so
/// its targets are computed once and kept for later epochs (as the cluster's students cache them).
public final class InProcessTeachers: SoftTargetSource {
    public let teachers: [any Classifier]
    public let temperature: Float
    public let rule: Ensemble.Rule
    private var cache: [Int: [Float]] = [:]

    public init(_ teachers: [any Classifier], temperature: Float, rule: Ensemble.Rule = .probabilities) {
        self.teachers = teachers; self.temperature = temperature; self.rule = rule
    }

    public func targets(for batch: TrainingBatch) -> Tensor? {
        guard !batch.augmented else { return softTargets(batch.images) }
        if batch.indices.allSatisfy({ cache[$0] != nil }) {
            return Tensor(shape: [batch.indices.count, batch.logits.shape[1]], scalars: batch.indices.flatMap { cache[$0]! })
        }
        let targets = softTargets(batch.images)
        let classes = targets.shape[1]
        for (row, index) in batch.indices.enumerated() { cache[index] = Array(targets.scalars[(row * classes)..<((row + 1) * classes)]) }
        return targets
    }

    public func softTargets(_ images: Tensor) -> Tensor {
        Ensemble.softTargets(teachers.map { $0.logits(images) }, temperature: temperature, rule: rule)
    }

    public var failure: String? { nil }
    public func finish() {}
}
