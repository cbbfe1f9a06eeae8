import Compute
import Datasets
import Foundation
import Jobs
import NeuralNet
import Training
import Wire

/// The student daemon: receives the members' soft targets on its data endpoint, trains on the ensemble
/// target with the distillation loss, keeps in step with the other replicas by gradient averaging, and
/// checkpoints (replica 0 writes; every replica holds the same weights).
public final class StudentTrainer {

    public struct Summary: Sendable {
        public var replica: Int
        public var steps: Int
        public var checkpoint: String?
        public var testAccuracy: Double?
        /// SHA-256 of the final weights (equal across replicas).
        public var weightsSHA256: String
    }

    private let name: String
    /// How long to wait for a peer replica's gradients before giving up on the job.
    private let peerTimeout: Double
    private let log: DaemonLog
    public let metrics = StudentMetrics()
    private let plane: StudentDataPlane
    private var exchange: GradientExchange!

    /// A student on ZeroMQ, or on the given transports (the core tests' entry), reading time from `clock`.
    public init(_ options: StudentDataPlane.Options, peerTimeout: Double = 60, control: DealerTransport? = nil, inbox: DataInbox? = nil,
                clock: @escaping () -> Double = monotonicSeconds) throws {
        name = options.name
        self.peerTimeout = peerTimeout
        log = DaemonLog("student \(options.name)")
        plane = try StudentDataPlane(options, metrics: metrics, log: log, control: control, inbox: inbox, clock: clock)
    }

    public func run(shouldStop: @escaping () -> Bool) throws -> Summary {
        plane.shouldStop = shouldStop
        try plane.join { $0.spec.student.model.classes }
        let job = plane.job!
        log.info("replica \(plane.replica) of \(job.spec.student.replicas) for job \(job.spec.name); data endpoint \(plane.dataEndpoint)")
        let model = try Network(job.spec.student.model, seed: job.spec.seed)
        exchange = try GradientExchange(replica: plane.replica, peers: plane.peers, peerKeys: plane.peerKeys, parameters: model.namedParameters,
                                        context: plane.context, security: plane.security, jobID: job.spec.name, sender: name)
        try plane.limitMessages(otherBytes: exchange.messageBytes)
        plane.onGradients = { [unowned self] message, step, replica, samples, bytes in
            if let problem = exchange.receive(message, step: step, fromReplica: replica, samples: samples) {
                metrics.wire.received(bytes: bytes, accepted: false)
                log.warning("dropped gradients: \(problem.escapedForLog)")
            } else {
                metrics.wire.received(bytes: bytes, accepted: true)
                metrics.gradientBytes.increment(by: Int64(bytes))
            }
        }
        return try train(model)
    }

    // MARK: training

    /// Trains with the one training loop (`Trainer.fit(_:as:)`): this replica's share of every batch, the
    /// ensemble's soft targets from the data plane, gradients averaged with the peers before each optimizer step.
    private func train(_ model: Network) throws -> Summary {
        let job = plane.job!
        let replica = plane.replica
        let spec = job.spec
        let loss = DistillationLoss(alpha: Float(spec.alpha), temperature: Float(spec.temperature), teacherForm: .probabilities)
        let n = job.plan.sampleCount
        var stepsDone: UInt64 = 0
        var testAccuracy: Double?
        var checkpoint: String?
        // The epoch's figures as the log and the coordinator see them: this replica's distillation loss over every
        // replica's samples.
        var started = monotonicSeconds(), seconds = 0.0, waitedBefore = 0.0
        var lossSum = 0.0, seen = 0
        func beginEpoch(_ epoch: Int) {
            started = monotonicSeconds()
            waitedBefore = plane.waitedForTargets
            lossSum = 0
            seen = 0
            plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: 0, samplesTotal: UInt64(n))
            metrics.epoch.set(Double(epoch + 1))
        }
        let loop = Trainer.Replica(
            share: { [unowned self] in slice($0) },
            lossGradient: { [unowned self] batch in
                let targets = try plane.targets(epoch: batch.epoch, positions: batch.positions)
                let result = loss.compute(student: batch.logits, teacher: targets, labels: batch.labels)
                lossSum += Double(result.loss) * Double(batch.indices.count)
                metrics.loss.set(Double(result.loss))
                metrics.kl.set(Double(result.kl))
                metrics.crossEntropy.set(Double(result.crossEntropy))
                return result.gradient
            },
            beforeUpdate: { [unowned self] step, samples in
                let sent = try exchange.publish(step: UInt64(step), samples: samples)
                metrics.gradientBytes.increment(by: Int64(sent))
                try waitForPeers(step: UInt64(step))
                exchange.average(step: UInt64(step))
            },
            afterUpdate: { [unowned self] epoch, batch, samples in
                stepsDone += 1
                seen += batch.count
                plane.trained(epoch: epoch, through: batch.upperBound)
                metrics.steps.increment()
                metrics.samples.increment(by: Int64(samples))
                plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                                       loss: Float(lossSum / Double(max(seen, 1))),
                                                       samplesPerSecond: Float(Double(seen) / max(monotonicSeconds() - started, 1e-9)))
                try plane.reportIfDue()
            },
            evaluate: { [unowned self] model in
                seconds = monotonicSeconds() - started
                metrics.samplesPerSecond.set(Double(seen) / max(seconds, 1e-9))
                guard replica == 0 else { return nil }
                let result = try plane.keepAlive {
                    FaultInjection.delayCompute()
                    return Evaluation.run(model, on: job.split.test, normalization: job.normalization)
                }
                testAccuracy = result.accuracy
                metrics.testAccuracy.set(result.accuracy)
                return result
            },
            onEpoch: { [unowned self] report in
                let epoch = report.epoch
                // The epoch's record (samples done == total); re-sent as is until the next epoch starts.
                plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                                       loss: Float(lossSum / Double(max(seen, 1))), accuracy: testAccuracy.map(Float.init),
                                                       samplesPerSecond: Float(Double(seen) / max(seconds, 1e-9)))
                try plane.report()
                let waited = plane.waitedForTargets - waitedBefore
                log.info("epoch \(epoch + 1)/\(spec.student.epochs): loss \(String(format: "%.4f", lossSum / Double(max(seen, 1))))\(testAccuracy.map { String(format: " test_acc %.4f", $0) } ?? "") \(Int(Double(seen) / seconds)) samples/s, \(String(format: "%.2f", seconds)) s, \(String(format: "%.2f", waited)) s waiting for targets")
                let last = epoch + 1 == spec.student.epochs
                if replica == 0 && (last || (epoch + 1) % spec.cluster.checkpointEveryEpochs == 0) {
                    checkpoint = try plane.keepAlive { try saveCheckpoint(model, epochs: epoch + 1) }
                    try plane.announce(CheckpointAnnouncement(step: stepsDone, epoch: UInt32(epoch + 1), path: checkpoint!))
                }
                plane.forget(epoch: epoch)
                if !last { beginEpoch(epoch + 1) }
            })
        beginEpoch(0)
        // Stops come through the data plane (it hands work back and says goodbye), not between steps.
        try Trainer(model: model, config: job.studentConfig, normalization: job.normalization).fit(job.split.train, as: loop)
        try plane.finish(step: stepsDone, epochs: spec.student.epochs, checkpoint: checkpoint)
        let weights = model.namedParameters.flatMap { $0.parameter.value.scalars.withUnsafeBytes { Array($0) } }
        return Summary(replica: replica, steps: Int(stepsDone), checkpoint: checkpoint, testAccuracy: testAccuracy,
                       weightsSHA256: SHA256.hex(Data(weights)))
    }

    /// This replica's share of a batch: contiguous, sizes differing by at most one.
    private func slice(_ batch: Range<Int>) -> Range<Int> {
        let replicas = plane.job.spec.student.replicas
        let replica = plane.replica
        let base = batch.count / replicas, extra = batch.count % replicas
        let start = batch.lowerBound + replica * base + min(replica, extra)
        return start..<(start + base + (replica < extra ? 1 : 0))
    }

    private func saveCheckpoint(_ model: Network, epochs: Int) throws -> String {
        let job = plane.job!
        let spec = job.spec
        let path = "\(spec.outputDirectory)/student.safetensors"
        try FileManager.default.createDirectory(atPath: spec.outputDirectory, withIntermediateDirectories: true)
        let metadata = job.distillationProvenance(epochs: epochs)
        try Checkpoint.save(model, metadata: metadata, to: URL(fileURLWithPath: path))
        return path
    }

    private func waitForPeers(step: UInt64) throws {
        let started = monotonicSeconds()
        defer { metrics.waitPeersSeconds.increment(by: monotonicSeconds() - started) }
        let deadline = started + peerTimeout
        while !exchange.isComplete(step: step) {
            guard monotonicSeconds() < deadline else {
                throw ClusterError("replica \(plane.replica): no gradients from every peer for step \(step) within \(Int(peerTimeout)) s; a replica is gone")
            }
            try plane.pump(timeoutMilliseconds: 50)
        }
    }
}
