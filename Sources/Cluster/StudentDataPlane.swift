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
    private let data: Socket
    public let dataEndpoint: String
    private let options: Options
    public private(set) var job: JobContext!
    public private(set) var replica = 0
    public private(set) var peers: [String] = []
    private(set) var store: SoftTargetStore!
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

    public init(_ options: Options, metrics: StudentMetrics, log: DaemonLog) throws {
        self.options = options
        self.metrics = metrics
        self.log = log
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

    private var hello: Hello { Hello(role: .student, dataEndpoint: dataEndpoint, threads: UInt32(ComputeThreads.current)) }

    /// Says hello and takes the job, this replica's index and its peers from the welcome.
    public func join(classes: (JobContext) -> Int) throws {
        let welcome = try channel.handshake(hello, timeout: options.connectTimeout, shouldStop: shouldStop)
        guard let yaml = welcome.jobYAML, let directory = welcome.jobDirectory, let r = welcome.replica else {
            throw ClusterError("the coordinator's welcome carries no job or replica")
        }
        job = try JobContext(yaml: yaml, directory: directory, file: "\(directory)/(job from the coordinator)")
        replica = Int(r)
        peers = welcome.peers
        guard peers.count == job.spec.student.replicas, peers[replica] == dataEndpoint else {
            throw ClusterError("the coordinator's roster \(peers) does not place us (\(dataEndpoint)) at replica \(replica)")
        }
        store = SoftTargetStore(plan: job.plan, classes: classes(job), temperature: Float(job.spec.temperature), rule: job.spec.combine)
    }

    /// The sample order of an epoch (kept until `forget(epoch:)`).
    public func epochOrder(_ epoch: Int) -> [Int] {
        if let order = orders[epoch] { return order }
        let order = job.plan.order(epoch: epoch)
        orders[epoch] = order
        return order
    }

    public func forget(epoch: Int) { orders[epoch] = nil }

    /// The ensemble targets for `positions` of `epoch`'s order, waiting (and serving both sockets) until every
    /// member's shard is in.
    public func targets(epoch: Int, positions: Range<Int>) throws -> Tensor {
        let order = epochOrder(epoch)
        let teacherEpoch = store.cached ? 0 : epoch
        let started = monotonicSeconds()
        defer { metrics.waitTargetsSeconds.increment(by: monotonicSeconds() - started) }
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

    /// Tells the coordinator this replica is done and waits (briefly) for its goodbye.
    public func finish(step: UInt64, epochs: Int, checkpoint: String?) throws {
        try announce(CheckpointAnnouncement(step: step, epoch: UInt32(epochs), path: checkpoint ?? "", isFinal: true))
        let deadline = monotonicSeconds() + 10
        while goodbye == nil && monotonicSeconds() < deadline { try? pump(timeoutMilliseconds: 50) }
    }

    /// Leaves the job before its end (the coordinator re-queues nothing of ours: students hold no work).
    public func leave(reason: String) throws {
        try channel.send(.goodbye(reason: reason, returnedWorkIDs: []))
    }

    /// Serves the control channel and the data endpoint once; throws when the job is over or stopped.
    public func pump(timeoutMilliseconds: Int) throws {
        if shouldStop() {
            try? channel.send(.goodbye(reason: "stopped (SIGTERM)", returnedWorkIDs: []))
            throw ClusterError("stopped by a signal")
        }
        _ = try Poller.readable([channel.socket, data], timeoutMilliseconds: timeoutMilliseconds)
        while let message = try channel.receive() { try handleControl(message) }
        while let frames = try data.receive(dontWait: true) { handleData(frames) }
        if try channel.heartbeatIfDue(Heartbeat(queueDepth: UInt32(store?.receivedCount ?? 0))) { metrics.heartbeats.increment() }
        try reportIfDue()
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
                try channel.send(.hello(hello))
            } else {
                log.warning("coordinator error (\(code)): \(text)")
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
        case let .gradients(step, r, samples) where onGradients != nil:
            onGradients?(message, step, Int(r), Int(samples), bytes)
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
