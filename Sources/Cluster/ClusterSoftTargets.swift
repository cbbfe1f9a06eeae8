import Compute
import Foundation
import Training
import Wire

/// Soft targets from a cluster job, for a trainer in this process (fine-tuning after pruning, QAT): it joins the
/// coordinator as the job's one student replica and hands the trainer each batch's ensemble targets as the
/// teacher workers deliver them. The job must have the trainer's seed, epochs and batch size (its sample order and
/// augmentation are then the trainer's).
public final class ClusterSoftTargets: SoftTargetSource {
    private let plane: StudentDataPlane
    public private(set) var failure: String?
    private var steps: UInt64 = 0
    private var finished = false
    /// Runs once the job is over (a launcher stops its processes here).
    public var onFinish: (() -> Void)?

    /// `keyName`: under CURVE, the student key this process presents (local jobs: student-1).
    public init(coordinator: String, name: String, keysDirectory: String?, keyName: String? = nil, connectTimeout: Double = 120,
                shouldStop: @escaping () -> Bool = { false }) throws {
        var options = StudentDataPlane.Options(coordinator: coordinator, name: name, keysDirectory: keysDirectory)
        options.keyName = keyName
        options.connectTimeout = connectTimeout
        plane = try StudentDataPlane(options, metrics: StudentMetrics(), log: DaemonLog("fine-tuning \(name)"))
        plane.shouldStop = shouldStop
        try plane.join { $0.spec.student.model.classes }
        guard plane.job.spec.student.replicas == 1 else {
            throw ClusterError("job '\(plane.job.spec.name)' has \(plane.job.spec.student.replicas) student replicas; a trainer in this process is the only one")
        }
    }

    public var job: JobContext { plane.job }

    public func targets(for batch: TrainingBatch) -> Tensor? {
        guard failure == nil else { return nil }
        let plan = plane.job.plan
        guard batch.epoch < plan.epochs, batch.positions.upperBound <= plan.sampleCount else {
            failure = "batch \(batch.positions) of epoch \(batch.epoch + 1) is outside job '\(plane.job.spec.name)' (\(plan.epochs) epochs of \(plan.sampleCount) samples)"
            return nil
        }
        do {
            let targets = try plane.targets(epoch: batch.epoch, positions: batch.positions)
            plane.trained(epoch: batch.epoch, through: batch.positions.upperBound)
            steps += 1
            plane.position = WireProtocol.Progress(epoch: UInt32(batch.epoch), samplesDone: UInt64(batch.positions.upperBound),
                                                   samplesTotal: UInt64(plan.sampleCount))
            // The epoch's last batch is reported at once: the coordinator records the epoch from it.
            if batch.positions.upperBound == plan.sampleCount {
                try plane.report()
                plane.forget(epoch: batch.epoch)
            } else {
                try plane.reportIfDue()
            }
            return targets
        } catch {
            failure = "\(error)"
            return nil
        }
    }

    /// All epochs trained: the job completes. Stopped early: the coordinator is told this replica left.
    public func finish() {
        guard !finished else { return }
        finished = true
        defer { onFinish?() }
        let plan = plane.job.plan
        let complete = failure == nil && plane.position.epoch + 1 == UInt32(plan.epochs) && plane.position.samplesDone == UInt64(plan.sampleCount)
        if complete {
            try? plane.finish(step: steps, epochs: plan.epochs, checkpoint: nil)
        } else {
            try? plane.leave(reason: failure == nil ? "training ended early" : "training failed")
        }
    }
}
