import Compute
import Datasets
import Foundation
import Jobs
import NeuralNet
import Wire

/// The teacher daemon: loads its ensemble members, computes soft targets for the items the coordinator
/// assigns and sends them straight to every student's data endpoint. It rebuilds each item's images
/// itself (the data is read locally, augmented from the item's seed), so only soft targets cross the wire.
public final class TeacherWorker {
    public struct Options: Sendable {
        public var coordinator: String
        public var name: String
        public var keysDirectory: String?
        /// Serve only these members (default: every member the job lets this worker serve).
        public var members: [String]?
        public var connectTimeout: Double = 120
        public var coordinatorTimeout: Double = 120
        public init(coordinator: String, name: String, keysDirectory: String? = nil, members: [String]? = nil) {
            self.coordinator = coordinator; self.name = name; self.keysDirectory = keysDirectory; self.members = members
        }
    }

    struct Member {
        var name: String
        var model: any Classifier
        var normalization: Normalization?
        var sha256: String
    }

    private let options: Options
    private let log: DaemonLog
    public let metrics = TeacherMetrics()
    private let context = Context()
    private let security: ClusterSecurity
    private let channel: ControlChannel
    private var job: JobContext!
    private var members: [String: Member] = [:]
    private var queue: [WorkAssignment] = []
    private var credits = 0
    private var destinations: [String: Socket] = [:]
    private var cachedOrder: (epoch: Int, order: [Int])?
    public private(set) var itemsDone = 0
    private var lastRegistration = 0.0

    public init(_ options: Options) throws {
        self.options = options
        log = DaemonLog("teacher \(options.name)")
        security = try ClusterSecurity(keysDirectory: options.keysDirectory)
        channel = try ControlChannel(coordinator: options.coordinator, name: options.name, security: security,
                                     context: context, coordinatorTimeout: options.coordinatorTimeout, log: log)
        channel.wire = metrics.wire
    }

    /// Serves until the coordinator says goodbye (returns its reason) or `shouldStop` turns true.
    public func run(shouldStop: () -> Bool) throws -> String {
        let welcome = try channel.handshake(Hello(role: .teacher, threads: UInt32(ComputeThreads.current)),
                                            timeout: options.connectTimeout, shouldStop: shouldStop)
        try setUp(welcome)
        try register()
        while true {
            if shouldStop() {
                let returned = queue.map(\.workID)
                try? channel.send(.goodbye(reason: "stopped (SIGTERM)", returnedWorkIDs: returned))
                log.info("stopping: \(returned.count) queued items handed back, \(itemsDone) done")
                return "stopped"
            }
            _ = try Poller.readable([channel.socket], timeoutMilliseconds: queue.isEmpty ? 50 : 0)
            while let message = try channel.receive() {
                if let reason = try handle(message) { return reason }
            }
            if try channel.heartbeatIfDue(Heartbeat(queueDepth: UInt32(queue.count))) { metrics.heartbeats.increment() }
            metrics.queueDepth.set(Double(queue.count))
            if !queue.isEmpty { try process(queue.removeFirst()) }
        }
    }

    private func setUp(_ welcome: Welcome) throws {
        guard let yaml = welcome.jobYAML, let directory = welcome.jobDirectory else {
            throw ClusterError("the coordinator's welcome carries no job")
        }
        job = try JobContext(yaml: yaml, directory: directory, file: "\(directory)/(job from the coordinator)")
        credits = Int(welcome.credits)
        let serving = job.spec.teachers.filter { t in
            (options.members?.contains(t.name) ?? true) && (t.workers.isEmpty || t.workers.contains(options.name))
        }
        guard !serving.isEmpty else {
            throw ClusterError("no ensemble member of job '\(job.spec.name)' is for worker '\(options.name)' (members: \(job.plan.members.joined(separator: ", ")))")
        }
        for teacher in serving {
            let loaded = try TeacherModel.load(teacher, context: job)
            members[teacher.name] = Member(name: teacher.name, model: loaded.model, normalization: loaded.normalization,
                                           sha256: try SHA256.hex(ofFile: teacher.checkpoint))
        }
        log.info("serving \(members.keys.sorted().joined(separator: ", ")) for job \(job.spec.name)")
    }

    private func register() throws {
        lastRegistration = monotonicSeconds()
        let models = members.values.sorted { $0.name < $1.name }.map { ModelHash(member: $0.name, sha256: $0.sha256) }
        try channel.send(.hello(Hello(role: .teacher, models: models, threads: UInt32(ComputeThreads.current))))
        try channel.send(.workRequest(credits: UInt32(credits)))
    }

    /// Returns the coordinator's goodbye reason when the job is over.
    private func handle(_ message: ReceivedMessage) throws -> String? {
        switch message.envelope.kind {
        case let .workAssignment(a):
            guard members[a.member] != nil else {
                log.warning("assigned member '\(a.member)', which this worker does not hold; ignored")
                return nil
            }
            queue.append(a)
        case let .goodbye(reason, _):
            log.info("coordinator: \(reason)")
            return reason
        case let .error(code, text):
            if code == .unauthorized {
                // The coordinator restarted and forgot us: register again (once for a burst of such
                // replies to messages queued while it was down); it re-queued what we held.
                guard monotonicSeconds() - lastRegistration > 1 else { return nil }
                log.info("coordinator does not know us (\(text)); registering again")
                queue.removeAll()
                try register()
            } else if code == .modelMismatch {
                throw ClusterError("the coordinator refused our models: \(text)")
            } else {
                log.warning("coordinator error (\(code)): \(text)")
            }
        default:
            break
        }
        return nil
    }

    private func process(_ a: WorkAssignment) throws {
        let member = members[a.member]!
        let epoch = Int(a.epoch)
        if cachedOrder?.epoch != epoch { cachedOrder = (epoch, job.plan.order(epoch: epoch)) }
        let order = cachedOrder!.order
        var indices: [Int] = []
        for r in a.ranges {
            guard r.begin < r.end, r.end <= UInt64(order.count) else {
                log.warning("item \(a.workID): range \(r.begin)..<\(r.end) is outside the data set; ignored")
                return
            }
            indices += order[Int(r.begin)..<Int(r.end)]
        }
        let computeStarted = monotonicSeconds()
        let outputs = softTargets(member, indices: indices, augmentationSeed: a.augmentationSeed, temperature: a.temperature)
        let computeSeconds = monotonicSeconds() - computeStarted
        let format: WireTensor.Format
        switch job.spec.softTargets {
        case .float32: format = .float32
        case .float16: format = .float16
        case let .topK(k): format = .topK(k, .float16)
        }
        let tensor = WireTensor(name: "targets", values: outputs.scalars, shape: outputs.shape, format: format)
        let body = SoftTargets(workID: a.workID, epoch: a.epoch, shard: a.shard, member: a.member, temperature: a.temperature,
                               probabilities: job.spec.combine == .probabilities, ranges: a.ranges)
        let message = WireMessage(Envelope(jobID: job.spec.name, sender: options.name, kind: .softTargets(body)), tensors: [tensor])
        let frames = message.frames()
        for endpoint in a.destinations {
            metrics.wire.sent(frames)
            metrics.softTargetBytes.increment(by: Int64(tensor.frame.count))
            guard try !destination(endpoint).send(frames, dontWait: true) else { continue }
            // The coordinator re-queues items whose receipts never come.
            log.warning("student \(endpoint) is not taking soft targets; item \(a.workID) dropped for it")
        }
        try channel.send(.workDone(workID: a.workID, samples: UInt32(indices.count)))
        try channel.send(.workRequest(credits: 1))
        itemsDone += 1
        metrics.itemsDone.increment()
        metrics.samples.increment(by: Int64(indices.count))
        metrics.computeSeconds.increment(by: computeSeconds)
        metrics.samplesPerSecond.set(Double(indices.count) / max(computeSeconds, 1e-9))
    }

    /// Logits, or tempered probabilities when the ensemble averages probabilities.
    private func softTargets(_ member: Member, indices: [Int], augmentationSeed: UInt64, temperature: Float) -> Tensor {
        let classes = member.model.classes
        var out = Tensor(zeros: [indices.count, classes])
        let chunk = 512
        for start in stride(from: 0, to: indices.count, by: chunk) {
            let part = Array(indices[start..<min(start + chunk, indices.count)])
            let batch = job.split.train.batch(part, augmentation: job.spec.data.augmentation,
                                              augmentationSeed: augmentationSeed, normalization: member.normalization)
            let logits = member.model.logits(batch.images)
            let rows = job.spec.combine == .probabilities ? Softmax.probabilities(logits, temperature: temperature) : logits
            out.scalars.replaceSubrange((start * classes)..<((start + part.count) * classes), with: rows.scalars)
        }
        return out
    }

    private func destination(_ endpoint: String) throws -> Socket {
        if let socket = destinations[endpoint] { return socket }
        let socket = try Socket(context, .push)
        // Queued soft targets still go out when we exit cleanly.
        try socket.set(.linger(5000))
        try socket.set(.sendHighWaterMark(10_000))
        try security.secureClient(socket)
        try socket.connect(endpoint)
        destinations[endpoint] = socket
        return socket
    }
}
