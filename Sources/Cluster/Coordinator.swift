import Foundation
import Jobs
import Storage
import Synchronization
import Wire

/// The coordinator daemon: registers workers, hands teachers work under credit-based flow control,
/// tracks every item until each student has it, re-queues the work of a worker whose lease runs out,
/// and ends the job when every student has trained its last epoch. One thread, one router (`RouterTransport`:
/// ZeroMQ in the daemon, in memory in the core tests), one clock.
public final class Coordinator {
    public enum Outcome: Equatable, Sendable { case complete, failed(String), stopped }

    public struct Options: Sendable {
        /// After the job ends, how long late workers are still told so (a worker that connects just after the end
        /// would otherwise wait its whole connect timeout).
        public var drainSeconds: Double = 3
        /// Stop draining once this many workers have been told (a Slurm step knows its tasks).
        public var expectedWorkers: Int?
        public init() {}
    }

    struct Worker {
        var id: String
        var routingID: [UInt8]
        var role: Role
        var name: String
        /// Who the connection authenticated as (the allow-list name under CURVE), else the name it registered with:
        /// what its assignment tokens are bound to.
        var identity: String
        /// Its CURVE public key (a student's data endpoint serves with it).
        var publicKey: String?
        var members: Set<Int> = []
        var leaseDeadline: Double
        var credits = 0
        var itemsDone = 0
        var replica: Int?
        var progress: WireProtocol.Progress?
        var finished = false
        var welcomed = false
        /// When the oldest credit still unused arrived (for the assignment latency).
        var requestedAt: Double?
    }

    let job: JobContext
    let log = DaemonLog("coordinator")
    public let metrics = CoordinatorMetrics()
    let state: CoordinatorState
    private let lock: DirectoryLock
    var scheduler: Scheduler
    let options: Options
    private let context = Context()
    private let transport: RouterTransport
    /// Seconds on a monotonic clock; tests drive their own.
    let clock: () -> Double
    let security: ClusterSecurity
    let tokens: AssignmentToken
    let refusals: RefusalLog
    var workers: [[UInt8]: Worker] = [:]
    var roster: [Int: String]
    /// When each replica's holder was last heard (coordinator start for a roster read from the state): a newcomer
    /// may take a replica over only after its holder has been silent for a lease.
    var replicaLastSeen: [Int: Double] = [:]
    var nextWorkerNumber: [Role: Int] = [:]
    /// Every worker connection that ever said hello (by routing id), for knowing when all have heard the end.
    var everRegistered: Set<[UInt8]> = []
    let memberHashes: [String]
    let started: Double
    private var lastLeaseCheck = 0.0
    private var lastGaugeUpdate = 0.0
    var pendingFailure: String?
    public let endpoint: String

    /// Binds `bind` (a port of "*" picks a free one; `endpoint` tells which) and loads or creates the
    /// state in `stateDirectory`, which no other live coordinator may hold.
    public convenience init(job: JobContext, bind: String, stateDirectory: String, options: Options = Options()) throws {
        try self.init(job: job, transport: { context, security in try ZeroMQRouter(context: context, bind: bind, security: security) },
                      stateDirectory: stateDirectory, options: options)
    }

    /// The coordinator on a transport made once the job's security is known, reading time from `clock`.
    public init(job: JobContext, transport makeTransport: (Context, ClusterSecurity) throws -> RouterTransport, stateDirectory: String,
                options: Options = Options(), clock: @escaping () -> Double = monotonicSeconds) throws {
        self.job = job
        self.options = options
        self.clock = clock
        started = clock()
        do { lock = try DirectoryLock(directory: stateDirectory) } catch let held as DirectoryLock.Held {
            throw ClusterError("the state directory \(stateDirectory) is in use by a live coordinator (\(held.owner?.escapedForLog ?? "another process")); stop it first, or give this one another --state")
        }
        state = try CoordinatorState(directory: stateDirectory, jobYAML: job.yaml, replicas: job.spec.student.replicas)
        scheduler = Scheduler(plan: job.plan, done: try state.completedItems())
        roster = try state.roster()
        tokens = AssignmentToken(key: try state.assignmentKey())
        refusals = RefusalLog(log)
        for replica in roster.keys { replicaLastSeen[replica] = started }
        memberHashes = try job.spec.teachers.map { teacher in
            guard FileManager.default.fileExists(atPath: teacher.checkpoint) else {
                throw JobError(file: "job \(job.spec.name)", line: nil, "teacher '\(teacher.name)': no checkpoint at \(teacher.checkpoint) (distillery run trains missing teachers first)")
            }
            return try SHA256.hex(ofFile: teacher.checkpoint)
        }
        security = try ClusterSecurity(job: job.spec)
        transport = try makeTransport(context, security)
        endpoint = transport.endpoint
        lock.describeOwner("listening on \(endpoint)")
        log.info("job \(job.spec.name): \(job.plan.itemCount) work items (\(job.plan.shardsPerEpoch) shards x \(job.plan.members.count) members x \(job.plan.teacherEpochs) epochs), \(scheduler.done.count) already done; listening on \(endpoint)\(security.isEncrypted ? " (CURVE)" : " (plain TCP)")")
        // Written last: a launcher that sees this file may connect.
        try? FileManager.default.removeItem(atPath: "\(stateDirectory)/endpoint")
        try Data("\(endpoint)\n".utf8).write(to: URL(fileURLWithPath: "\(stateDirectory)/endpoint"), options: .atomic)
    }

    /// Serves until the job completes or fails, or `shouldStop` turns true.
    public func run(shouldStop: () -> Bool) throws -> Outcome {
        defer {
            refusals.flush(all: true)
            security.stop()
        }
        // Started again on a finished job's state: nothing to hand out, nobody to wait for.
        if state.status == "complete" {
            log.info("the job in this state is already complete")
            drain(Goodbye(reason: "job complete", ending: .complete), shouldStop: shouldStop)
            return .complete
        }
        while true {
            if let outcome = try serve(waitingMilliseconds: 50, shouldStop: shouldStop) {
                if outcome == .complete { drain(Goodbye(reason: "job complete", ending: .complete), shouldStop: shouldStop) }
                return outcome
            }
        }
    }

    /// One turn of the loop: waits up to `waitingMilliseconds` for messages, handles a bounded batch of them,
    /// checks leases at the clock's time and hands out work. The outcome once the job has ended (a failure has
    /// then been drained; a completion is drained by `run`), else nil. The core tests call this directly.
    public func serve(waitingMilliseconds: Int, shouldStop: () -> Bool = { false }) throws -> Outcome? {
        if shouldStop() {
            // Like kill -9 for the job: workers wait for a coordinator on this state and register again.
            broadcastGoodbye("the coordinator stopped; the job resumes when a coordinator starts on its state", ending: .suspended)
            log.info("stopped; state kept: a coordinator started on the same --state resumes the job")
            return .stopped
        }
        if try transport.waitForMessages(timeoutMilliseconds: waitingMilliseconds) {
            // A bounded batch, committed together (one fsync for all its receipts): under a steady stream of
            // messages, work requests still get answered promptly. Assignments go out before the commit; a
            // receipt lost to a crash before it only means the item is computed and delivered again.
            try state.batch {
                var handled = 0
                while handled < 16, let frames = try transport.receive() {
                    handle(frames)
                    handled += 1
                }
                assignWork()
            }
        }
        let now = clock()
        if let failure = checkLeases(now) { return try fail(failure) }
        assignWork()
        if now - lastGaugeUpdate > 0.5 {
            lastGaugeUpdate = now
            updateGauges()
            refusals.flush(now: now)
        }
        if scheduler.isComplete && studentsFinished {
            try state.setStatus("complete")
            broadcastGoodbye("job complete", ending: .complete)
            log.info("job complete: \(scheduler.done.count) items, \(state.duplicateReceipts) duplicate deliveries ignored")
            return .complete
        }
        return nil
    }

    /// After the end: answers every message (a worker that came late, or missed the broadcast) with the job's
    /// ending, for `options.drainSeconds` or until `options.expectedWorkers` workers have heard it or were seen
    /// before (a dead one never will).
    private func drain(_ goodbye: Goodbye, shouldStop: () -> Bool) {
        var told = everRegistered.union(workers.keys)
        // Real time: a drain ends by the wall clock even when a test drives the core's clock (tests drain for 0 s).
        let deadline = monotonicSeconds() + options.drainSeconds
        while monotonicSeconds() < deadline && !shouldStop() && told.count < (options.expectedWorkers ?? Int.max) {
            guard (try? transport.waitForMessages(timeoutMilliseconds: 50)) == true else { continue }
            while let frames = try? transport.receive(), let routingID = frames.first?.bytes {
                guard let message = try? ReceivedMessage.parse(frames, fromRouter: true) else { continue }
                if case .statusRequest = message.envelope.kind {
                    send(.statusReply(json: statusJSON(now: clock())), to: routingID)
                } else {
                    told.insert(routingID)
                    send(.goodbye(goodbye), to: routingID)
                }
            }
        }
    }

    private var studentsFinished: Bool {
        let finished = workers.values.filter { $0.role == .student && $0.finished }.compactMap(\.replica)
        return Set(finished).count == job.spec.student.replicas
    }

    private func fail(_ reason: String) throws -> Outcome {
        log.error("job failed: \(reason)")
        try state.setStatus("failed: \(reason)")
        broadcastGoodbye("job failed: \(reason)", ending: .failed)
        drain(Goodbye(reason: "job failed: \(reason)", ending: .failed), shouldStop: { false })
        return .failed(reason)
    }

    // MARK: messages

    private func handle(_ frames: [ReceivedFrame]) {
        guard let routingID = frames.first?.bytes else { return }
        let bytes = frames.byteCount
        let message: ReceivedMessage
        do {
            message = try ReceivedMessage.parse(frames, fromRouter: true)
        } catch let error as WireError {
            metrics.wire.received(bytes: bytes, accepted: false)
            refusals.refused("bad messages", "from \(describe(routingID)): \(error.message.escapedForLog)")
            send(error.reply(jobID: job.spec.name, sender: "coordinator").envelope.kind, to: routingID)
            return
        } catch {
            metrics.wire.received(bytes: bytes, accepted: false)
            return
        }
        let envelope = message.envelope
        let forThisJob = envelope.jobID == job.spec.name || envelope.jobID == "-"
        let fromWorker = workers[routingID] != nil
        switch envelope.kind {
        case .hello, .statusRequest: metrics.wire.received(bytes: bytes, accepted: forThisJob)
        default: metrics.wire.received(bytes: bytes, accepted: forThisJob && fromWorker)
        }
        guard forThisJob else {
            send(.error(code: .malformed, message: "this coordinator runs job '\(job.spec.name)', not '\(envelope.jobID.escapedForLog)'"), to: routingID)
            return
        }
        let now = clock()
        if case .statusRequest = envelope.kind {
            send(.statusReply(json: statusJSON(now: now)), to: routingID)
            return
        }
        if case let .hello(hello) = envelope.kind {
            handleHello(hello, message: message, routingID: routingID, now: now)
            return
        }
        guard var worker = workers[routingID] else {
            send(.error(code: .unknownWorker, message: "unknown worker: say hello first"), to: routingID)
            return
        }
        worker.leaseDeadline = now + leaseSeconds
        workers[routingID] = worker
        if let replica = worker.replica { replicaLastSeen[replica] = now }
        switch envelope.kind {
        case .heartbeat:
            metrics.heartbeats.increment()
            send(.heartbeat(Heartbeat(leaseMilliseconds: UInt32(job.spec.cluster.leaseMilliseconds))), to: routingID)
        case let .workRequest(credits):
            workers[routingID]?.credits = min(Int(credits) + worker.credits, job.spec.cluster.credits)
            if worker.requestedAt == nil { workers[routingID]?.requestedAt = now }
        case let .workDone(id, _):
            workDone(id, by: worker, routingID: routingID, now: now)
        case let .progress(p):
            progress(p, from: worker, routingID: routingID)
        case let .checkpoint(c):
            if c.isFinal {
                workers[routingID]?.finished = true
                log.info("\(worker.id) finished\(c.path.isEmpty ? "" : ": \(c.path.escapedForLog)")")
            }
        case let .goodbye(g):
            workers[routingID] = nil
            // Everything it held goes back, the items it names among them.
            let held = scheduler.release(worker: worker.id)
            metrics.requeued.increment(by: Int64(held.count))
            log.info("\(worker.id) left (\(g.reason.escapedForLog)); \(g.returnedWorkIDs.count) items handed back, \(held.count) re-queued")
            if worker.role == .student && !worker.finished {
                pendingFailure = "student replica \(worker.replica ?? -1) left before the end (\(g.reason.escapedForLog))"
            }
        default:
            send(.error(code: .unknownKind, message: "the coordinator does not accept this message kind"), to: routingID)
        }
    }

    private func workDone(_ id: UInt64, by worker: Worker, routingID: [UInt8], now: Double) {
        guard job.plan.item(id) != nil else {
            send(.error(code: .malformed, message: "no work item \(id) in this job"), to: routingID)
            return
        }
        if worker.role == .teacher {
            if scheduler.owner[id] == worker.id { scheduler.delivered(id, at: now) }
            workers[routingID]?.itemsDone += 1
            return
        }
        guard let replica = worker.replica else { return }
        // A receipt counts only for an item handed out (its soft targets carried a token of this coordinator's),
        // or one already complete (a duplicate); one for an item never assigned is forged progress.
        guard scheduler.owner[id] != nil || scheduler.done.contains(id) else {
            metrics.refusedReceipts.increment()
            refusals.refused("receipts for items never assigned", "item \(id) from \(worker.id)")
            return
        }
        do {
            let receipt = try state.recordReceipt(item: id, replica: replica)
            if receipt.complete { scheduler.complete(id) }
        } catch {
            log.error("cannot record a receipt: \(error)")
        }
    }

    private func progress(_ p: WireProtocol.Progress, from worker: Worker, routingID: [UInt8]) {
        workers[routingID]?.progress = p
        guard worker.role == .student, let replica = worker.replica, p.samplesTotal > 0, p.samplesDone == p.samplesTotal else { return }
        let record = CoordinatorState.EpochRecord(epoch: Int(p.epoch), replica: replica, samples: Int(p.samplesDone),
                                                  trainLoss: p.loss.map(Double.init), testAccuracy: p.accuracy.map(Double.init),
                                                  seconds: p.samplesPerSecond.map { Double(p.samplesDone) / Double(max($0, 1e-9)) })
        do { try state.recordEpoch(record) } catch { log.error("cannot record epoch \(p.epoch): \(error)") }
        if let accuracy = p.accuracy { log.info("epoch \(p.epoch + 1)/\(job.plan.epochs): student test accuracy \(String(format: "%.4f", accuracy))") }
    }

    // MARK: leases and assignment

    var leaseSeconds: Double { Double(job.spec.cluster.leaseMilliseconds) / 1000 }

    private func checkLeases(_ now: Double) -> String? {
        if let failure = pendingFailure { return failure }
        guard now - lastLeaseCheck > 0.05 else { return nil }
        lastLeaseCheck = now
        // A student waiting for its peers to join is not on the clock yet (it repeats its hello instead).
        for (routingID, worker) in workers where worker.leaseDeadline < now && (worker.role != .student || worker.welcomed) {
            workers[routingID] = nil
            let released = scheduler.release(worker: worker.id)
            metrics.leaseExpiries.increment()
            metrics.requeued.increment(by: Int64(released.count))
            log.warning("\(worker.id) (\(worker.name)) lost its lease: silent for \(job.spec.cluster.leaseMilliseconds) ms; \(released.count) items re-queued")
            if worker.role == .student && !worker.finished {
                return "student replica \(worker.replica ?? -1) (\(worker.name)) went silent for \(job.spec.cluster.leaseMilliseconds) ms"
            }
        }
        let lost = scheduler.releaseUnconfirmed(sentBefore: now - 2 * leaseSeconds)
        metrics.requeued.increment(by: Int64(lost.count))
        if !lost.isEmpty { log.warning("\(lost.count) items sent but never confirmed by every student: re-queued") }
        return nil
    }

    /// How far along the timeline teachers may run ahead of the slowest student (0 until every replica has a
    /// registered student: assignments name every replica's endpoint and key).
    private var timelineLimit: Int {
        guard roster.count == job.spec.student.replicas, registeredStudents.allSatisfy({ $0 != nil }) else { return 0 }
        let positions = workers.values.filter { $0.role == .student }.map { w -> Int in
            guard let p = w.progress else { return 0 }
            return Int(p.epoch) * job.plan.sampleCount + Int(p.samplesDone)
        }
        let window = max(job.plan.sampleCount, 4 * job.plan.shardSize)
        return (positions.min() ?? 0) + window
    }

    private func assignWork() {
        let limit = timelineLimit
        guard limit > 0 else { return }
        let destinations = (0..<job.spec.student.replicas).compactMap { roster[$0] }
        let destinationKeys = registeredStudents.compactMap { $0?.publicKey }
        let now = clock()
        for (routingID, worker) in workers where worker.role == .teacher && worker.credits > 0 && !worker.members.isEmpty {
            var credits = worker.credits
            while credits > 0, let id = scheduler.next(members: worker.members, timelineLimit: limit) {
                let item = job.plan.item(id)!
                let positions = job.plan.positions(shard: item.shard)
                let member = job.plan.members[item.member]
                let assignment = WorkAssignment(
                    workID: id, epoch: UInt32(item.epoch), shard: UInt32(item.shard),
                    ranges: [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))],
                    member: member, augmentationSeed: job.augmentationSeed(epoch: item.epoch),
                    temperature: Float(job.spec.temperature), destinations: destinations,
                    token: tokens.token(worker: worker.identity, workID: id, member: member), destinationKeys: destinationKeys)
                scheduler.assign(id, to: worker.id)
                send(.workAssignment(assignment), to: routingID)
                metrics.assignments.increment()
                credits -= 1
            }
            if credits < worker.credits, let requested = worker.requestedAt {
                metrics.assignmentLatency.record(now - requested)
                workers[routingID]?.requestedAt = credits > 0 ? now : nil
            }
            workers[routingID]?.credits = credits
        }
    }

    // MARK: output

    func send(_ kind: MessageKind, to routingID: [UInt8]) {
        let frames = WireMessage(Envelope(jobID: job.spec.name, sender: "coordinator", kind: kind)).frames(to: routingID)
        metrics.wire.sent(frames)
        do { try transport.send(frames) } catch {
            refusals.refused("sends that failed", "to \(describe(routingID)): \(error)")
        }
    }

    private func broadcastGoodbye(_ reason: String, ending: JobEnding) {
        for routingID in workers.keys { send(.goodbye(Goodbye(reason: reason, ending: ending)), to: routingID) }
    }

    private func describe(_ routingID: [UInt8]) -> String {
        workers[routingID]?.id ?? "an unregistered peer"
    }
}
