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

    public init(_ options: StudentDataPlane.Options, peerTimeout: Double = 60) throws {
        name = options.name
        self.peerTimeout = peerTimeout
        log = DaemonLog("student \(options.name)")
        plane = try StudentDataPlane(options, metrics: metrics, log: log)
    }

    public func run(shouldStop: @escaping () -> Bool) throws -> Summary {
        plane.shouldStop = shouldStop
        try plane.join { $0.spec.student.model.classes }
        let job = plane.job!
        log.info("replica \(plane.replica) of \(job.spec.student.replicas) for job \(job.spec.name); data endpoint \(plane.dataEndpoint)")
        let model = try Sequential(job.spec.student.model, seed: job.spec.seed)
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

    private func train(_ model: Sequential) throws -> Summary {
        let job = plane.job!
        let replica = plane.replica
        let spec = job.spec
        let config = job.studentConfig
        let optimizer = config.makeOptimizer()
        let loss = DistillationLoss(alpha: Float(spec.alpha), temperature: Float(spec.temperature), teacherForm: .probabilities)
        let n = job.plan.sampleCount
        let batchSize = spec.student.batchSize
        let stepsPerEpoch = (n + batchSize - 1) / batchSize
        var step: UInt64 = 0
        var testAccuracy: Double?
        var checkpoint: String?
        for epoch in 0..<spec.student.epochs {
            let order = plane.epochOrder(epoch)
            let started = monotonicSeconds()
            var lossSum = 0.0, seen = 0
            plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: 0, samplesTotal: UInt64(n))
            metrics.epoch.set(Double(epoch + 1))
            for stepInEpoch in 0..<stepsPerEpoch {
                optimizer.learningRate = config.schedule.rate(
                    base: config.learningRate, epoch: Double(epoch) + Double(stepInEpoch) / Double(stepsPerEpoch), totalEpochs: config.epochs)
                let batch = (stepInEpoch * batchSize)..<min((stepInEpoch + 1) * batchSize, n)
                let mine = slice(batch)
                var samples = 0
                if !mine.isEmpty {
                    let targets = try plane.targets(epoch: epoch, positions: mine)
                    let (images, labels) = job.split.train.batch(Array(order[mine]), augmentation: spec.data.augmentation,
                                                                augmentationSeed: job.augmentationSeed(epoch: epoch),
                                                                normalization: job.normalization)
                    let logits = model.forward(images, training: true)
                    let result = loss.compute(student: logits, teacher: targets, labels: labels)
                    model.backward(result.gradient)
                    lossSum += Double(result.loss) * Double(mine.count)
                    samples = mine.count
                    metrics.loss.set(Double(result.loss))
                    metrics.kl.set(Double(result.kl))
                    metrics.crossEntropy.set(Double(result.crossEntropy))
                }
                let sent = try exchange.publish(step: step, samples: samples)
                metrics.gradientBytes.increment(by: Int64(sent))
                try waitForPeers(step: step)
                exchange.average(step: step)
                optimizer.step(model.trainableParameters)
                step += 1
                seen += batch.count
                plane.trained(epoch: epoch, through: batch.upperBound)
                metrics.steps.increment()
                metrics.samples.increment(by: Int64(samples))
                plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                                       loss: Float(lossSum / Double(max(seen, 1))),
                                                       samplesPerSecond: Float(Double(seen) / max(monotonicSeconds() - started, 1e-9)))
                try plane.reportIfDue()
            }
            let seconds = monotonicSeconds() - started
            metrics.samplesPerSecond.set(Double(seen) / max(seconds, 1e-9))
            if replica == 0 {
                testAccuracy = try plane.keepAlive {
                    FaultInjection.delayCompute()
                    return Evaluation.run(model, on: job.split.test, normalization: job.normalization).accuracy
                }
                metrics.testAccuracy.set(testAccuracy!)
            }
            // The epoch's record (samples done == total); re-sent as is until the next epoch starts.
            plane.position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                                   loss: Float(lossSum / Double(max(seen, 1))), accuracy: testAccuracy.map(Float.init),
                                                   samplesPerSecond: Float(Double(seen) / max(seconds, 1e-9)))
            try plane.report()
            log.info("epoch \(epoch + 1)/\(spec.student.epochs): loss \(String(format: "%.4f", lossSum / Double(max(seen, 1))))\(testAccuracy.map { String(format: " test_acc %.4f", $0) } ?? "") \(Int(Double(seen) / seconds)) samples/s")
            let last = epoch + 1 == spec.student.epochs
            if replica == 0 && (last || (epoch + 1) % spec.cluster.checkpointEveryEpochs == 0) {
                checkpoint = try plane.keepAlive { try saveCheckpoint(model, epochs: epoch + 1) }
                try plane.announce(CheckpointAnnouncement(step: step, epoch: UInt32(epoch + 1), path: checkpoint!))
            }
            plane.forget(epoch: epoch)
        }
        try plane.finish(step: step, epochs: spec.student.epochs, checkpoint: checkpoint)
        let weights = model.namedParameters.flatMap { $0.parameter.value.scalars.withUnsafeBytes { Array($0) } }
        return Summary(replica: replica, steps: Int(step), checkpoint: checkpoint, testAccuracy: testAccuracy,
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

    private func saveCheckpoint(_ model: Sequential, epochs: Int) throws -> String {
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
