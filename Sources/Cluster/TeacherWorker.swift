import Compute
import Datasets
import Foundation
import Jobs
import NeuralNet
import Training
import Wire

/// The teacher daemon: loads its ensemble members, computes soft targets for the items the coordinator
/// assigns and sends them straight to every student's data endpoint. It rebuilds each item's images
/// itself (the data is read locally, augmented from the item's seed), so only soft targets cross the wire.
public final class TeacherWorker {
    public struct Options: Sendable {
        public var coordinator: String
        public var name: String
        public var keysDirectory: String?
        /// Whose key pair in the keys directory this worker presents (default: its name).
        public var keyName: String?
        /// Serve only these members (default: every member the job lets this worker serve).
        public var members: [String]?
        public var connectTimeout: Double = 120
        public var coordinatorTimeout: Double = 120
        public init(coordinator: String, name: String, keysDirectory: String? = nil, keyName: String? = nil, members: [String]? = nil) {
            self.coordinator = coordinator; self.name = name; self.keysDirectory = keysDirectory; self.keyName = keyName
            self.members = members
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
    /// Connections to the students' data endpoints, by endpoint (and the server key they were made for).
    private var destinations: [String: (key: String?, outlet: PushTransport)] = [:]
    private let connect: (_ endpoint: String, _ serverKey: String?) throws -> PushTransport
    /// Seconds on a monotonic clock; the core tests drive their own.
    private let clock: () -> Double
    private var cachedOrder: (epoch: Int, order: [Int])?
    public private(set) var itemsDone = 0
    private var lastRegistration = 0.0

    /// A teacher on ZeroMQ: a DEALER socket to the coordinator, PUSH sockets to the students.
    public convenience init(_ options: Options) throws {
        try self.init(options, transport: nil, pushes: nil)
    }

    /// A teacher on the given transports (nil: ZeroMQ's), reading time from `clock`: the core tests' entry.
    public init(_ options: Options, transport: DealerTransport?, pushes: ((String, String?) throws -> PushTransport)?,
                clock: @escaping () -> Double = monotonicSeconds) throws {
        self.options = options
        self.clock = clock
        if let problem = WorkerName.problem(options.name) { throw ClusterError(problem) }
        log = DaemonLog("teacher \(options.name)")
        let security = try ClusterSecurity(keysDirectory: options.keysDirectory, keyName: options.keyName ?? options.name)
        self.security = security
        let context = self.context
        let dealer = try transport ?? ZeroMQDealer(context: context, coordinator: options.coordinator, name: options.name, security: security)
        channel = ControlChannel(transport: dealer, coordinator: options.coordinator, name: options.name, context: context,
                                 coordinatorTimeout: options.coordinatorTimeout, log: log)
        connect = pushes ?? { endpoint, key in try ZeroMQPush(context: context, endpoint: endpoint, serverKey: key, security: security) }
        channel.wire = metrics.wire
    }

    /// Serves until the coordinator ends the job (returns its goodbye) or `shouldStop` turns true (nil).
    public func run(shouldStop: () -> Bool) throws -> Goodbye? {
        let welcome: Welcome
        do {
            welcome = try channel.handshake(Hello(role: .teacher, threads: UInt32(ComputeThreads.current)),
                                            timeout: options.connectTimeout, shouldStop: shouldStop)
        } catch let ended as JobAlreadyEnded {
            // Late for a job the others finished: nothing to do, and nothing wrong with that.
            log.info("coordinator: \(ended.goodbye.reason.escapedForLog) (before this worker joined)")
            return ended.goodbye
        }
        try channel.keepAlive(Heartbeat()) {
            FaultInjection.delayLoading()
            try setUp(welcome)
        }
        try register()
        while true {
            if shouldStop() {
                let returned = queue.map(\.workID)
                try? channel.send(.goodbye(Goodbye(reason: "stopped (SIGTERM)", returnedWorkIDs: returned)))
                log.info("stopping: \(returned.count) queued items handed back, \(itemsDone) done")
                return nil
            }
            _ = try channel.waitForMessages(timeoutMilliseconds: queue.isEmpty ? 50 : 0)
            while let message = try channel.receive() {
                if let goodbye = try handle(message) { return goodbye }
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
        lastRegistration = clock()
        let models = members.values.sorted { $0.name < $1.name }.map { ModelHash(member: $0.name, sha256: $0.sha256) }
        try channel.send(.hello(Hello(role: .teacher, models: models, threads: UInt32(ComputeThreads.current))))
        try channel.send(.workRequest(credits: UInt32(credits)))
    }

    /// Returns the coordinator's goodbye when the job is over.
    private func handle(_ message: ReceivedMessage) throws -> Goodbye? {
        switch message.envelope.kind {
        case let .workAssignment(a):
            guard members[a.member] != nil else {
                log.warning("assigned member '\(a.member.escapedForLog)', which this worker does not hold; ignored")
                return nil
            }
            queue.append(a)
        case let .goodbye(g):
            guard g.ending == .suspended else {
                log.info("coordinator: \(g.reason.escapedForLog)")
                return g
            }
            // The job stays resumable: wait for a coordinator on the same state (it re-queues what we hold).
            log.info("coordinator: \(g.reason.escapedForLog); waiting up to \(Int(options.coordinatorTimeout)) s for it to come back")
            queue.removeAll()
            channel.restartSilenceClock()
        case let .error(code, text):
            switch code {
            case .unknownWorker:
                // The coordinator restarted and forgot us: register again (once for a burst of such
                // replies to messages queued while it was down); it re-queued what we held.
                guard clock() - lastRegistration > 1 else { return nil }
                log.info("coordinator does not know us (\(text.escapedForLog)); registering again")
                queue.removeAll()
                try register()
            case .modelMismatch:
                throw ClusterError("the coordinator refused our models: \(text.escapedForLog)")
            case .unauthorized:
                throw ClusterError("the coordinator refused us: \(text.escapedForLog)")
            default:
                log.warning("coordinator error (\(code)): \(text.escapedForLog)")
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
        var pieces: [Range<Int>] = []
        for r in a.ranges {
            guard r.begin < r.end, r.end <= UInt64(order.count) else {
                log.warning("item \(a.workID): range \(r.begin)..<\(r.end) is outside the data set; ignored")
                return
            }
            // Passes cut where the in-process distillation's do, so both compute every row among the same rows.
            pieces += TeacherPasses.pieces(Int(r.begin)..<Int(r.end), cuts: [job.plan.shardSize, job.spec.student.batchSize])
        }
        let rows = pieces.reduce(0) { $0 + $1.count }
        let computeStarted = monotonicSeconds()
        // A big member's batch may outlast the lease: the heartbeats go on beside it.
        let outputs = try channel.keepAlive(Heartbeat(queueDepth: UInt32(queue.count))) {
            FaultInjection.delayCompute()
            return try softTargets(member, passes: pieces.map { Array(order[$0]) }, rows: rows,
                                   augmentationSeed: a.augmentationSeed, temperature: a.temperature)
        }
        let computeSeconds = monotonicSeconds() - computeStarted
        let format: WireTensor.Format
        switch job.spec.softTargets {
        case .float32: format = .float32
        case .float16: format = .float16
        case let .topK(k): format = .topK(k, .float16)
        }
        let tensor = WireTensor(name: "targets", values: outputs.scalars, shape: outputs.shape, format: format)
        let body = SoftTargets(workID: a.workID, epoch: a.epoch, shard: a.shard, member: a.member, temperature: a.temperature,
                               probabilities: job.spec.combine == .probabilities, ranges: a.ranges, token: a.token)
        let message = WireMessage(Envelope(jobID: job.spec.name, sender: options.name, kind: .softTargets(body)), tensors: [tensor])
        let frames = message.frames()
        for (i, endpoint) in a.destinations.enumerated() {
            let key = i < a.destinationKeys.count ? a.destinationKeys[i] : nil
            if security.isEncrypted && key == nil {
                log.warning("item \(a.workID): no public key for student \(endpoint.escapedForLog); not sent")
                continue
            }
            metrics.wire.sent(frames)
            metrics.softTargetBytes.increment(by: Int64(tensor.frame.count))
            guard try !destination(endpoint, key: key).send(frames) else { continue }
            // The coordinator re-queues items whose receipts never come.
            log.warning("student \(endpoint) is not taking soft targets; item \(a.workID) dropped for it")
        }
        try channel.send(.workDone(workID: a.workID, samples: UInt32(rows)))
        try channel.send(.workRequest(credits: 1))
        itemsDone += 1
        metrics.itemsDone.increment()
        metrics.samples.increment(by: Int64(rows))
        metrics.computeSeconds.increment(by: computeSeconds)
        metrics.samplesPerSecond.set(Double(rows) / max(computeSeconds, 1e-9))
    }

    /// Logits, or tempered probabilities when the ensemble averages probabilities: one model pass per list of
    /// sample indices, rows in order (`rowsPerSample` per sample).
    private func softTargets(_ member: Member, passes: [[Int]], rows: Int, augmentationSeed: UInt64, temperature: Float) throws -> Tensor {
        // A language model's window gives a row per position.
        let width = member.model.classes * job.plan.rowsPerSample
        var out = Tensor(zeros: [rows * job.plan.rowsPerSample, member.model.classes])
        var start = 0
        for part in passes {
            let batch = job.split.train.batch(part, augmentation: job.spec.data.augmentation,
                                              augmentationSeed: augmentationSeed, normalization: member.normalization)
            let logits = try member.model.logits(batch.images).asRows
            let targets = Ensemble.memberOutput(logits, temperature: temperature, rule: job.spec.combine)
            out.scalars.replaceSubrange((start * width)..<((start + part.count) * width), with: targets.scalars)
            start += part.count
        }
        return out
    }

    /// The connection to a student's data endpoint, made anew when the student's key changed (a replacement replica).
    private func destination(_ endpoint: String, key: String?) throws -> PushTransport {
        if let existing = destinations[endpoint], existing.key == key { return existing.outlet }
        destinations[endpoint]?.outlet.close()
        let outlet = try connect(endpoint, key)
        destinations[endpoint] = (key, outlet)
        return outlet
    }
}
