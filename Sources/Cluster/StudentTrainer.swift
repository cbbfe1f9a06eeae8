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
    public struct Options: Sendable {
        public var coordinator: String
        public var name: String
        public var keysDirectory: String?
        /// Where the data endpoint binds; a port of "*" picks a free one.
        public var bind = "tcp://127.0.0.1:*"
        /// The host other machines reach this endpoint at, when binding a wildcard address.
        public var advertiseHost: String?
        public var connectTimeout: Double = 600
        public var coordinatorTimeout: Double = 120
        /// How long to wait for a peer replica's gradients before giving up on the job.
        public var peerTimeout: Double = 60
        public init(coordinator: String, name: String, keysDirectory: String? = nil) {
            self.coordinator = coordinator; self.name = name; self.keysDirectory = keysDirectory
        }
    }

    public struct Summary: Sendable {
        public var replica: Int
        public var steps: Int
        public var checkpoint: String?
        public var testAccuracy: Double?
        /// SHA-256 of the final weights (equal across replicas).
        public var weightsSHA256: String
    }

    private let options: Options
    private let log: DaemonLog
    public let metrics = StudentMetrics()
    private let context = Context()
    private let security: ClusterSecurity
    private let channel: ControlChannel
    private let data: Socket
    private let dataEndpoint: String
    private var job: JobContext!
    private var store: SoftTargetStore!
    private var exchange: GradientExchange!
    private var replica = 0
    private var orders: [Int: [Int]] = [:]
    private var goodbye: String?
    private var stopRequested: () -> Bool = { false }
    /// Where training stands, reported every half second (also while waiting, so the coordinator's
    /// window moves on after it restarts).
    private var position = WireProtocol.Progress()
    private var lastReport = 0.0
    private var lastRegistration = 0.0

    public init(_ options: Options) throws {
        self.options = options
        log = DaemonLog("student \(options.name)")
        security = try ClusterSecurity(keysDirectory: options.keysDirectory)
        data = try Socket(context, .pull)
        try data.set(.receiveHighWaterMark(100_000))
        try data.set(.maxMessageSize(Int64(WireLimits.standard.maximumTensorBytes)))
        try security.secureServer(data, context: context)
        try data.bind(options.bind)
        var endpoint = data.lastEndpoint
        if let host = options.advertiseHost, let port = endpoint.split(separator: ":").last {
            endpoint = "tcp://\(host):\(port)"
        }
        dataEndpoint = endpoint
        channel = try ControlChannel(coordinator: options.coordinator, name: options.name, security: security,
                                     context: context, coordinatorTimeout: options.coordinatorTimeout, log: log)
        channel.wire = metrics.wire
    }

    public func run(shouldStop: @escaping () -> Bool) throws -> Summary {
        stopRequested = shouldStop
        let welcome = try channel.handshake(Hello(role: .student, dataEndpoint: dataEndpoint, threads: UInt32(ComputeThreads.current)),
                                            timeout: options.connectTimeout, shouldStop: shouldStop)
        guard let yaml = welcome.jobYAML, let directory = welcome.jobDirectory, let r = welcome.replica else {
            throw ClusterError("the coordinator's welcome carries no job or replica")
        }
        job = try JobContext(yaml: yaml, directory: directory, file: "\(directory)/(job from the coordinator)")
        replica = Int(r)
        guard welcome.peers.count == job.spec.student.replicas, welcome.peers[replica] == dataEndpoint else {
            throw ClusterError("the coordinator's roster \(welcome.peers) does not place us (\(dataEndpoint)) at replica \(replica)")
        }
        log.info("replica \(replica) of \(job.spec.student.replicas) for job \(job.spec.name); data endpoint \(dataEndpoint)")
        let spec = job.spec
        let model = try Sequential(spec.student.model, seed: spec.seed)
        store = SoftTargetStore(plan: job.plan, classes: model.classes, temperature: Float(spec.temperature),
                                rule: spec.combine)
        exchange = try GradientExchange(replica: replica, peers: welcome.peers, parameters: model.namedParameters,
                                        context: context, security: security, jobID: job.spec.name, sender: options.name)
        return try train(model)
    }

    // MARK: training

    private func train(_ model: Sequential) throws -> Summary {
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
            let order = epochOrder(epoch)
            let started = monotonicSeconds()
            var lossSum = 0.0, seen = 0
            position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: 0, samplesTotal: UInt64(n))
            metrics.epoch.set(Double(epoch + 1))
            for stepInEpoch in 0..<stepsPerEpoch {
                optimizer.learningRate = config.schedule.rate(
                    base: config.learningRate, epoch: Double(epoch) + Double(stepInEpoch) / Double(stepsPerEpoch), totalEpochs: config.epochs)
                let batch = (stepInEpoch * batchSize)..<min((stepInEpoch + 1) * batchSize, n)
                let mine = slice(batch)
                var samples = 0
                if !mine.isEmpty {
                    let targets = try waitForTargets(epoch: epoch, positions: mine, order: order)
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
                    if store.cached && epoch >= job.plan.teacherEpochs { metrics.cacheHits.increment(by: Int64(samples)) }
                }
                let sentBefore = exchange.bytesSent
                try exchange.publish(step: step, samples: samples)
                metrics.gradientBytes.increment(by: Int64(exchange.bytesSent - sentBefore))
                try waitForPeers(step: step)
                exchange.average(step: step)
                optimizer.step(model.trainableParameters)
                step += 1
                seen += batch.count
                store.discard(before: epoch, position: batch.upperBound)
                metrics.steps.increment()
                metrics.samples.increment(by: Int64(samples))
                metrics.pendingItems.set(Double(store.heldShards))
                let now = monotonicSeconds()
                position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                                 loss: Float(lossSum / Double(max(seen, 1))),
                                                 samplesPerSecond: Float(Double(seen) / max(now - started, 1e-9)))
                if now - lastReport > 0.5 {
                    lastReport = now
                    try reportPosition()
                }
            }
            let seconds = monotonicSeconds() - started
            metrics.samplesPerSecond.set(Double(seen) / max(seconds, 1e-9))
            if replica == 0 {
                testAccuracy = Evaluation.run(model, on: job.split.test, normalization: job.normalization).accuracy
                metrics.testAccuracy.set(testAccuracy!)
            }
            // The epoch's record (samples done == total); re-sent as is until the next epoch starts.
            position = WireProtocol.Progress(epoch: UInt32(epoch), samplesDone: UInt64(seen), samplesTotal: UInt64(n),
                                             loss: Float(lossSum / Double(max(seen, 1))), accuracy: testAccuracy.map(Float.init),
                                             samplesPerSecond: Float(Double(seen) / max(seconds, 1e-9)))
            try reportPosition()
            log.info("epoch \(epoch + 1)/\(spec.student.epochs): loss \(String(format: "%.4f", lossSum / Double(max(seen, 1))))\(testAccuracy.map { String(format: " test_acc %.4f", $0) } ?? "") \(Int(Double(seen) / seconds)) samples/s")
            let last = epoch + 1 == spec.student.epochs
            if replica == 0 && (last || (epoch + 1) % spec.cluster.checkpointEveryEpochs == 0) {
                checkpoint = try saveCheckpoint(model, epochs: epoch + 1)
                try channel.send(.checkpoint(CheckpointAnnouncement(step: step, epoch: UInt32(epoch + 1), path: checkpoint!)))
            }
            orders[epoch] = nil
        }
        try channel.send(.checkpoint(CheckpointAnnouncement(step: step, epoch: UInt32(spec.student.epochs), path: checkpoint ?? "", isFinal: true)))
        waitForGoodbye(seconds: 10)
        let weights = model.namedParameters.flatMap { $0.parameter.value.scalars.withUnsafeBytes { Array($0) } }
        return Summary(replica: replica, steps: Int(step), checkpoint: checkpoint, testAccuracy: testAccuracy,
                       weightsSHA256: SHA256.hex(Data(weights)))
    }

    /// This replica's share of a batch: contiguous, sizes differing by at most one.
    private func slice(_ batch: Range<Int>) -> Range<Int> {
        let replicas = job.spec.student.replicas
        let base = batch.count / replicas, extra = batch.count % replicas
        let start = batch.lowerBound + replica * base + min(replica, extra)
        return start..<(start + base + (replica < extra ? 1 : 0))
    }

    private func epochOrder(_ epoch: Int) -> [Int] {
        if let order = orders[epoch] { return order }
        let order = job.plan.order(epoch: epoch)
        orders[epoch] = order
        return order
    }

    private func saveCheckpoint(_ model: Sequential, epochs: Int) throws -> String {
        let spec = job.spec
        let path = "\(spec.outputDirectory)/student.safetensors"
        try FileManager.default.createDirectory(atPath: spec.outputDirectory, withIntermediateDirectories: true)
        var metadata = [
            "distillery.data": spec.data.source.description, "distillery.epochs": "\(epochs)", "distillery.seed": "\(spec.seed)",
            "distillery.job": spec.name, "distillery.temperature": "\(spec.temperature)", "distillery.alpha": "\(spec.alpha)",
            "distillery.combine": spec.combine.rawValue, "distillery.teachers": job.plan.members.joined(separator: ","),
            "distillery.replicas": "\(spec.student.replicas)",
        ]
        if let normalization = job.normalization { metadata["distillery.normalize"] = normalization.text }
        try Checkpoint.save(model, metadata: metadata, to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: waiting, and serving both sockets meanwhile

    private func waitForTargets(epoch: Int, positions: Range<Int>, order: [Int]) throws -> Tensor {
        let teacherEpoch = store.cached ? 0 : epoch
        let started = monotonicSeconds()
        defer { metrics.waitTargetsSeconds.increment(by: monotonicSeconds() - started) }
        while true {
            if let t = store.targets(epoch: teacherEpoch, positions: positions, order: order) { return t }
            try pump(timeoutMilliseconds: 50)
        }
    }

    private func waitForPeers(step: UInt64) throws {
        let started = monotonicSeconds()
        defer { metrics.waitPeersSeconds.increment(by: monotonicSeconds() - started) }
        let deadline = started + options.peerTimeout
        while !exchange.isComplete(step: step) {
            guard monotonicSeconds() < deadline else {
                throw ClusterError("replica \(replica): no gradients from every peer for step \(step) within \(Int(options.peerTimeout)) s; a replica is gone")
            }
            try pump(timeoutMilliseconds: 50)
        }
    }

    private func waitForGoodbye(seconds: Double) {
        let deadline = monotonicSeconds() + seconds
        while goodbye == nil && monotonicSeconds() < deadline { try? pump(timeoutMilliseconds: 50) }
    }

    /// Serves the control channel and the data endpoint once; throws when the job is over or stopped.
    private func pump(timeoutMilliseconds: Int) throws {
        if stopRequested() {
            try? channel.send(.goodbye(reason: "stopped (SIGTERM)", returnedWorkIDs: []))
            throw ClusterError("stopped by a signal")
        }
        _ = try Poller.readable([channel.socket, data], timeoutMilliseconds: timeoutMilliseconds)
        while let message = try channel.receive() { try handleControl(message) }
        while let frames = try data.receive(dontWait: true) { handleData(frames) }
        if try channel.heartbeatIfDue(Heartbeat(queueDepth: UInt32(store.receivedCount))) { metrics.heartbeats.increment() }
        if monotonicSeconds() - lastReport > 0.5 { try reportPosition() }
    }

    private func reportPosition() throws {
        lastReport = monotonicSeconds()
        try channel.send(.progress(position))
    }

    private func handleControl(_ message: ReceivedMessage) throws {
        switch message.envelope.kind {
        case let .goodbye(reason, _):
            goodbye = reason
            if reason != "job complete" { throw ClusterError("the coordinator ended the job: \(reason)") }
        case let .error(code, text):
            if code == .unauthorized {
                guard monotonicSeconds() - lastRegistration > 1 else { return }
                lastRegistration = monotonicSeconds()
                log.info("coordinator does not know us (\(text)); registering again")
                try channel.send(.hello(Hello(role: .student, dataEndpoint: dataEndpoint, threads: UInt32(ComputeThreads.current))))
            } else {
                log.warning("coordinator error (\(code)): \(text)")
            }
        default:
            break
        }
    }

    private func handleData(_ frames: [ReceivedFrame]) {
        let bytes = frames.reduce(0) { $0 + $1.count }
        let message: ReceivedMessage
        do { message = try ReceivedMessage.parse(frames) } catch {
            metrics.wire.received(bytes: bytes, accepted: false)
            log.warning("dropped a bad message on the data endpoint: \(error)")
            return
        }
        guard message.envelope.jobID == job.spec.name else {
            metrics.wire.received(bytes: bytes, accepted: false)
            log.warning("dropped a message for job '\(message.envelope.jobID)' on the data endpoint")
            return
        }
        switch message.envelope.kind {
        case let .softTargets(s):
            let accepted = accept(s, message)
            metrics.wire.received(bytes: bytes, accepted: accepted)
            if accepted { metrics.softTargetBytes.increment(by: Int64(bytes - frames[0].count)) }
        case let .gradients(step, r, samples):
            if let problem = exchange.receive(message, step: step, fromReplica: Int(r), samples: Int(samples)) {
                metrics.wire.received(bytes: bytes, accepted: false)
                log.warning("dropped gradients: \(problem)")
            } else {
                metrics.wire.received(bytes: bytes, accepted: true)
                metrics.gradientBytes.increment(by: Int64(bytes))
            }
        default:
            metrics.wire.received(bytes: bytes, accepted: false)
            log.warning("dropped a message of an unexpected kind on the data endpoint")
        }
    }

    /// False when the delivery was refused (it does not match its work item).
    private func accept(_ s: SoftTargets, _ message: ReceivedMessage) -> Bool {
        guard let item = job.plan.item(s.workID), job.plan.members[item.member] == s.member, item.epoch == Int(s.epoch), item.shard == Int(s.shard),
              message.envelope.tensors.count == 1 else {
            log.warning("dropped soft targets that do not match work item \(s.workID)")
            return false
        }
        let rows = job.plan.positions(shard: item.shard).count
        guard message.envelope.tensors[0].shape == [rows, store.classes], let values = try? message.tensor(0), values.allSatisfy(\.isFinite) else {
            log.warning("dropped soft targets for item \(s.workID): shape \(message.envelope.tensors[0].shape), expected [\(rows), \(store.classes)]")
            return false
        }
        store.add(itemID: s.workID, values: values) { epochOrder(item.epoch) }
        // Acknowledge every delivery, duplicates too: the coordinator may have missed the first receipt.
        try? channel.send(.workDone(workID: s.workID, samples: UInt32(rows)))
        return true
    }
}
