import Compute
import Foundation
import Jobs
import NeuralNet
import Wire

/// A student's side of the cluster, without the training: the control channel to the coordinator (hello,
/// heartbeats, progress, receipts, re-registration after a coordinator restart) and the data endpoint where the
/// teachers' soft targets arrive (checked, acknowledged, joined into ensemble targets). The student daemon trains
/// on it; fine-tuning after pruning takes its soft targets from it too.
public final class StudentDataPlane {
    public struct Options: Sendable {
        public var coordinator: String
        public var name: String
        public var keysDirectory: String?
        /// Whose key pair in the keys directory this student presents and serves with (default: its name).
        public var keyName: String?
        /// Where the data endpoint binds; a port of "*" picks a free one.
        public var bind = "tcp://127.0.0.1:*"
        /// The host other machines reach this endpoint at, when binding a wildcard address.
        public var advertiseHost: String?
        public var connectTimeout: Double = 600
        public var coordinatorTimeout: Double = 120
        public init(coordinator: String, name: String, keysDirectory: String? = nil) {
            self.coordinator = coordinator; self.name = name; self.keysDirectory = keysDirectory
        }
    }

    public let metrics: StudentMetrics
    let log: DaemonLog
    let context = Context()
    let security: ClusterSecurity
    let channel: ControlChannel
    private let data: DataInbox
    /// Seconds on a monotonic clock; the core tests drive their own.
    private let clock: () -> Double
    public let dataEndpoint: String
    private let options: Options
    public private(set) var job: JobContext!
    public private(set) var replica = 0
    public private(set) var peers: [String] = []
    /// Under CURVE: each replica's public key, by replica index.
    public private(set) var peerKeys: [String] = []
    private(set) var store: SoftTargetStore!
    /// Checks that a delivery's teacher was assigned its item.
    private var tokens: AssignmentToken!
    private let refusals: RefusalLog
    private var orders: [Int: [Int]] = [:]
    /// The coordinator's goodbye, once it came.
    public private(set) var goodbye: String?
    public var shouldStop: () -> Bool = { false }
    /// Gradients from a peer replica: (message, step, replica, samples, bytes); the daemon averages them.
    var onGradients: ((ReceivedMessage, UInt64, Int, Int, Int) -> Void)?
    /// Where training stands, reported every half second (also while waiting, so the coordinator's window
    /// moves on after it restarts).
    public var position = WireProtocol.Progress()
    private var lastReport = 0.0
    private var lastRegistration = 0.0

    /// The data plane on the given transports (nil: ZeroMQ's, bound and connected as `options` say), reading time
    /// from `clock`.
    public init(_ options: Options, metrics: StudentMetrics, log: DaemonLog, control: DealerTransport? = nil, inbox: DataInbox? = nil,
                clock: @escaping () -> Double = monotonicSeconds) throws {
        self.options = options
        self.metrics = metrics
        self.log = log
        self.clock = clock
        refusals = RefusalLog(log)
        if let problem = WorkerName.problem(options.name) { throw ClusterError(problem) }
        security = try ClusterSecurity(keysDirectory: options.keysDirectory, keyName: options.keyName ?? options.name)
        data = try inbox ?? ZeroMQDataInbox(context: context, bind: options.bind, advertiseHost: options.advertiseHost,
                                            queuedMessagesPerPeer: Self.queuedMessagesPerPeer, largestMessage: Self.largestMessageBeforeTheJob,
                                            security: security)
        dataEndpoint = data.endpoint
        let dealer = try control ?? ZeroMQDealer(context: context, coordinator: options.coordinator, name: options.name, security: security)
        channel = ControlChannel(transport: dealer, coordinator: options.coordinator, name: options.name, context: context,
                                 coordinatorTimeout: options.coordinatorTimeout, log: log)
        channel.wire = metrics.wire
    }

    /// Messages a peer may have waiting at the data endpoint at once (ZeroMQ's high-water mark, per connection).
    static let queuedMessagesPerPeer: Int32 = 64
    /// The largest message accepted before the job says how large its messages are.
    static let largestMessageBeforeTheJob = 64 << 20
    /// Data messages handled per `pump`, so a flood never keeps heartbeats and progress from going out.
    static let messagesPerPump = 256

    private var hello: Hello { Hello(role: .student, dataEndpoint: dataEndpoint, threads: UInt32(ComputeThreads.current)) }

    /// Says hello and takes the job, this replica's index and its peers from the welcome. The job's data loads while
    /// heartbeats go on, so a short lease survives a slow start.
    public func join(classes: (JobContext) -> Int) throws {
        let welcome = try channel.handshake(hello, timeout: options.connectTimeout, shouldStop: shouldStop)
        guard let yaml = welcome.jobYAML, let directory = welcome.jobDirectory, let r = welcome.replica,
              let key = welcome.assignmentKey, !key.isEmpty else {
            throw ClusterError("the coordinator's welcome carries no job, replica or assignment key")
        }
        job = try channel.keepAlive(Heartbeat()) {
            FaultInjection.delayLoading()
            return try JobContext(yaml: yaml, directory: directory, file: "\(directory)/(job from the coordinator)")
        }
        replica = Int(r)
        peers = welcome.peers
        peerKeys = welcome.peerKeys
        guard peers.count == job.spec.student.replicas, peers[replica] == dataEndpoint else {
            throw ClusterError("the coordinator's roster \(peers) does not place us (\(dataEndpoint)) at replica \(replica)")
        }
        guard !security.isEncrypted || peerKeys.count == peers.count else {
            throw ClusterError("the coordinator's welcome has \(peerKeys.count) public keys for \(peers.count) replicas")
        }
        tokens = AssignmentToken(key: key)
        let tail = job.spec.softTargets.isTopK ? 1 : 0
        store = SoftTargetStore(plan: job.plan, columns: classes(job) + tail, withTail: tail == 1, keep: job.spec.softTargets.topK,
                                temperature: Float(job.spec.temperature), rule: job.spec.combine, weights: job.spec.ensembleWeights)
        try limitMessages(otherBytes: 0)
    }

    /// Lowers the data endpoint's message limit to the job's largest message (soft targets of a shard, or
    /// `otherBytes`, e.g. a replica's gradients) plus the envelope; connections made from now on get it.
    public func limitMessages(otherBytes: Int) throws {
        let targets = job.plan.shardSize * job.plan.rowsPerSample * store.columns * MemoryLayout<Float>.size
        try data.limitMessages(toBytes: max(targets, otherBytes) + WireLimits.standard.maximumHeaderBytes)
    }

    /// The sample order of an epoch (kept until `forget(epoch:)`).
    public func epochOrder(_ epoch: Int) -> [Int] {
        if let order = orders[epoch] { return order }
        let order = job.plan.order(epoch: epoch)
        orders[epoch] = order
        return order
    }

    public func forget(epoch: Int) { orders[epoch] = nil }

    /// Seconds spent in `targets` so far: waiting for teachers (and serving the sockets meanwhile).
    public private(set) var waitedForTargets = 0.0

    /// The ensemble targets for `positions` of `epoch`'s order, waiting (and serving both sockets) until every
    /// member's shard is in.
    public func targets(epoch: Int, positions: Range<Int>) throws -> Tensor {
        let order = epochOrder(epoch)
        let teacherEpoch = store.cached ? 0 : epoch
        let started = monotonicSeconds()
        defer {
            let waited = monotonicSeconds() - started
            waitedForTargets += waited
            metrics.waitTargetsSeconds.increment(by: waited)
        }
        while true {
            if let t = store.targets(epoch: teacherEpoch, positions: positions, order: order) {
                if store.cached && epoch >= job.plan.teacherEpochs { metrics.cacheHits.increment(by: Int64(positions.count)) }
                return t
            }
            try pump(timeoutMilliseconds: 50)
        }
    }

    /// Frees targets the student has trained past.
    public func trained(epoch: Int, through position: Int) {
        store.discard(before: epoch, position: position)
        metrics.pendingItems.set(Double(store.heldShards))
    }

    /// Sends the position now if it is due (every half second).
    public func reportIfDue() throws {
        if monotonicSeconds() - lastReport > 0.5 { try report() }
    }

    public func report() throws {
        lastReport = monotonicSeconds()
        try channel.send(.progress(position))
    }

    public func announce(_ checkpoint: CheckpointAnnouncement) throws { try channel.send(.checkpoint(checkpoint)) }

    /// Tells the coordinator this replica is done and waits for its goodbye, saying so again every second: a
    /// coordinator stopped meanwhile (SIGTERM) and started again on its state learns it from the repeat. Throws when
    /// the coordinator stays silent past the timeout or ends the job otherwise.
    public func finish(step: UInt64, epochs: Int, checkpoint: String?) throws {
        defer { refusals.flush(all: true) }
        let announcement = CheckpointAnnouncement(step: step, epoch: UInt32(epochs), path: checkpoint ?? "", isFinal: true)
        var lastSent = -Double.infinity
        while goodbye == nil {
            if monotonicSeconds() - lastSent >= 1 {
                try announce(announcement)
                lastSent = monotonicSeconds()
            }
            try pump(timeoutMilliseconds: 50)
        }
    }

    /// Leaves the job before its end (the coordinator re-queues nothing of ours: students hold no work).
    public func leave(reason: String) throws {
        try channel.send(.goodbye(Goodbye(reason: reason)))
    }

    /// Serves the control channel and the data endpoint once; throws when the job is over or stopped.
    public func pump(timeoutMilliseconds: Int) throws {
        if shouldStop() {
            try? channel.send(.goodbye(Goodbye(reason: "stopped (SIGTERM)")))
            throw ClusterError("stopped by a signal")
        }
        let sockets = [channel.socket, data.socket].compactMap { $0 }
        if sockets.isEmpty {
            // In memory there is nothing to wait on: a short nap instead of a spin.
            Thread.sleep(forTimeInterval: 0.001)
        } else {
            _ = try Poller.readable(sockets, timeoutMilliseconds: timeoutMilliseconds)
        }
        while let message = try channel.receive() { try handleControl(message) }
        var handled = 0
        while handled < Self.messagesPerPump, let frames = try data.receive() {
            handleData(frames)
            handled += 1
        }
        if try channel.heartbeatIfDue(Heartbeat(queueDepth: UInt32(store?.receivedCount ?? 0))) {
            metrics.heartbeats.increment()
            refusals.flush()
        }
        try reportIfDue()
    }

    /// Runs `work` (an evaluation, a checkpoint) while the heartbeats go on beside it (`ControlChannel.keepAlive`).
    public func keepAlive<T>(_ work: () throws -> T) throws -> T {
        try channel.keepAlive(Heartbeat(queueDepth: UInt32(store?.receivedCount ?? 0)), during: work)
    }

    private func handleControl(_ message: ReceivedMessage) throws {
        switch message.envelope.kind {
        case let .goodbye(g):
            switch g.ending {
            case .complete:
                goodbye = g.reason
            case .suspended:
                // The job stays resumable: keep what we have and wait for a coordinator on the same state.
                log.info("coordinator: \(g.reason.escapedForLog); waiting up to \(Int(options.coordinatorTimeout)) s for it to come back")
                channel.restartSilenceClock()
            case .failed, nil:
                goodbye = g.reason
                throw ClusterError("the coordinator ended the job: \(g.reason.escapedForLog)")
            }
        case let .error(code, text):
            switch code {
            case .unknownWorker:
                guard clock() - lastRegistration > 1 else { return }
                lastRegistration = clock()
                log.info("coordinator does not know us (\(text.escapedForLog)); registering again")
                try channel.send(.hello(hello))
            case .unauthorized:
                throw ClusterError("the coordinator refused us: \(text.escapedForLog)")
            default:
                log.warning("coordinator error (\(code)): \(text.escapedForLog)")
            }
        default:
            break
        }
    }

    private func handleData(_ frames: [ReceivedFrame]) {
        let bytes = frames.byteCount
        let message: ReceivedMessage
        do { message = try ReceivedMessage.parse(frames) } catch {
            metrics.wire.received(bytes: bytes, accepted: false)
            refusals.refused("bad messages on the data endpoint", "\(error)".escapedForLog)
            return
        }
        guard message.envelope.jobID == job.spec.name else {
            metrics.wire.received(bytes: bytes, accepted: false)
            refusals.refused("messages for another job on the data endpoint", "job '\(message.envelope.jobID.escapedForLog)'")
            return
        }
        switch message.envelope.kind {
        case let .softTargets(s):
            let accepted = accept(s, message)
            metrics.wire.received(bytes: bytes, accepted: accepted)
            if accepted { metrics.softTargetBytes.increment(by: Int64(bytes - frames[0].count)) }
        case let .gradients(step, r, samples) where onGradients != nil:
            onGradients?(message, step, Int(r), Int(samples), bytes)
        default:
            metrics.wire.received(bytes: bytes, accepted: false)
            refusals.refused("messages of an unexpected kind on the data endpoint", "from '\(message.envelope.sender.escapedForLog)'")
        }
    }

    /// False when the delivery was refused: it does not match its work item, its teacher was not assigned the item,
    /// or its values are not what the encoding promises.
    private func accept(_ s: SoftTargets, _ message: ReceivedMessage) -> Bool {
        guard let item = job.plan.item(s.workID), job.plan.members[item.member] == s.member, item.epoch == Int(s.epoch), item.shard == Int(s.shard),
              message.envelope.tensors.count == 1 else {
            refusals.refused("soft targets that match no work item", "item \(s.workID) of '\(s.member.escapedForLog)'")
            return false
        }
        // The sender the connection authenticated (CURVE), else the name it registered with (plaintext).
        let teacher = message.userID ?? message.envelope.sender
        guard tokens.verify(s.token, worker: teacher, workID: s.workID, member: s.member) else {
            refusals.refused("soft targets from a teacher not assigned the item", "item \(s.workID) from '\(teacher.escapedForLog)'")
            return false
        }
        let probabilities = job.spec.combine == .probabilities
        if let problem = SoftTargetMeaning.headerProblem(s, plan: job.plan, temperature: Float(job.spec.temperature), probabilities: probabilities) {
            refusals.refused("soft targets that are not what the job asks", "from '\(teacher.escapedForLog)': \(problem)")
            return false
        }
        let samples = job.plan.positions(shard: item.shard).count
        let rows = samples * job.plan.rowsPerSample
        let descriptor = message.envelope.tensors[0]
        let classes = store.columns - (job.spec.softTargets.isTopK ? 1 : 0)
        guard descriptor.shape == [rows, classes], descriptor.encoding.isTopK == job.spec.softTargets.isTopK, let values = try? message.tensor(0) else {
            refusals.refused("soft targets of the wrong shape or encoding", "item \(s.workID): \(descriptor.encoding) \(descriptor.shape), expected \(job.spec.softTargets) [\(rows), \(classes)]")
            return false
        }
        if let problem = SoftTargetMeaning.problem(values, classes: store.columns, probabilities: probabilities,
                                                   tolerance: SoftTargetMeaning.tolerance(float16: descriptor.dtype == .float16)) {
            refusals.refused("soft targets that are not \(probabilities ? "probabilities" : "finite logits")", "item \(s.workID) from '\(teacher.escapedForLog)': \(problem)")
            return false
        }
        store.add(itemID: s.workID, values: values) { epochOrder(item.epoch) }
        // Acknowledge every delivery, duplicates too: the coordinator may have missed the first receipt.
        try? channel.send(.workDone(workID: s.workID, samples: UInt32(samples)))
        return true
    }
}
