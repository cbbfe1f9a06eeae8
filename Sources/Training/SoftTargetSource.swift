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

/// Where teacher passes cut a run of epoch positions. oneDNN's GEMM may round a row differently with other rows
/// beside it (its blocking depends on the batch's size, and differs between CPUs), so a teacher in the cluster
/// (one pass per shard) and teachers in one process (one pass per student batch) both cut at every multiple of
/// the shard size, the batch size and the pass limit: each row is then computed among the same rows on both sides.
public enum TeacherPasses {
    /// The most rows one pass computes.
    public static let limit = 512

    /// `positions` split at every multiple of any of `cuts` (and of `limit`).
    public static func pieces(_ positions: Range<Int>, cuts: [Int]) -> [Range<Int>] {
        let every = Set(cuts.filter { $0 > 0 } + [limit])
        var out: [Range<Int>] = []
        var start = positions.lowerBound
        while start < positions.upperBound {
            let next = every.map { ($0 * (start / $0 + 1)) }.min()!
            let end = min(next, positions.upperBound)
            out.append(start..<end)
            start = end
        }
        return out
    }
}

/// The ensemble run here on each batch the student sees. Without augmentation a sample's image never changes, so
/// its targets are computed once and kept for later epochs (as the cluster's students cache them).
public final class InProcessTeachers: SoftTargetSource {
    public let teachers: [any Classifier]
    public let temperature: Float
    public let rule: Ensemble.Rule
    /// The members' weights in the mean (nil: equal).
    public let weights: [Float]?
    /// Where passes cut a batch besides its own bounds (`TeacherPasses`): a job's shard size, so that the arithmetic
    /// is the cluster's.
    public let passCuts: [Int]
    private var cache: [Int: [Float]] = [:]
    public private(set) var failure: String?

    public init(_ teachers: [any Classifier], temperature: Float, rule: Ensemble.Rule = .probabilities, weights: [Float]? = nil, passCuts: [Int] = []) {
        self.teachers = teachers; self.temperature = temperature; self.rule = rule; self.weights = weights; self.passCuts = passCuts
    }

    public func targets(for batch: TrainingBatch) -> Tensor? {
        do { return try cachedTargets(for: batch) } catch {
            failure = "a teacher failed: \(error)"
            return nil
        }
    }

    private func cachedTargets(for batch: TrainingBatch) throws -> Tensor {
        guard !batch.augmented else { return try softTargets(batch.images, positions: batch.positions) }
        let classes = batch.logits.shape.last!
        if batch.indices.allSatisfy({ cache[$0] != nil }) {
            let scalars = batch.indices.flatMap { cache[$0]! }
            return Tensor(shape: [scalars.count / classes, classes], scalars: scalars)
        }
        let targets = try softTargets(batch.images, positions: batch.positions)
        // A sample's rows: one for an image, one per position for a language model's window.
        let perSample = targets.count / max(batch.indices.count, 1)
        for (row, index) in batch.indices.enumerated() { cache[index] = Array(targets.scalars[(row * perSample)..<((row + 1) * perSample)]) }
        return targets
    }

    /// images (rows, sample...) at `positions` of the epoch -> ensemble targets (rows, classes), pass by pass; a
    /// language model's windows give a row per position.
    public func softTargets(_ images: Tensor, positions: Range<Int>) throws -> Tensor {
        let pieces = TeacherPasses.pieces(positions, cuts: passCuts)
        guard pieces.count > 1 else { return try softTargets(images) }
        var scalars: [Float] = []
        var classes = 0
        for piece in pieces {
            let rows = (piece.lowerBound - positions.lowerBound)..<(piece.upperBound - positions.lowerBound)
            let targets = try softTargets(images.rows(rows))
            classes = targets.shape[1]
            scalars += targets.scalars
        }
        return Tensor(shape: [scalars.count / classes, classes], scalars: scalars)
    }

    public func softTargets(_ images: Tensor) throws -> Tensor {
        Ensemble.softTargets(try teachers.map { try $0.logits(images).asRows }, temperature: temperature, rule: rule, weights: weights)
    }

    public func finish() {}
}
