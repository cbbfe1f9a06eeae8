import Foundation
import Jobs
import Synchronization
import Wire

/// The coordinator daemon: registers workers, hands teachers work under credit-based flow control,
/// tracks every item until each student has it, re-queues the work of a worker whose lease runs out,
/// and ends the job when every student has trained its last epoch. One thread, one ROUTER socket.
public final class Coordinator {
    public enum Outcome: Equatable, Sendable { case complete, failed(String), stopped }

    struct Worker {
        var id: String
        var routingID: [UInt8]
        var role: Role
        var name: String
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
    var scheduler: Scheduler
    private let context = Context()
    private let socket: Socket
    private let security: ClusterSecurity
    var workers: [[UInt8]: Worker] = [:]
    private var roster: [Int: String]
    private var nextWorkerNumber: [Role: Int] = [:]
    private let memberHashes: [String]
    let started = monotonicSeconds()
    private var lastLeaseCheck = 0.0
    private var lastGaugeUpdate = 0.0
    public let endpoint: String

    /// Binds `bind` (a port of "*" picks a free one; `endpoint` tells which) and loads or creates the
    /// state in `stateDirectory`.
    public init(job: JobContext, bind: String, stateDirectory: String) throws {
        self.job = job
        state = try CoordinatorState(directory: stateDirectory, jobYAML: job.yaml, replicas: job.spec.student.replicas)
        scheduler = Scheduler(plan: job.plan, done: try state.completedItems())
        roster = try state.roster()
        memberHashes = try job.spec.teachers.map { teacher in
            guard FileManager.default.fileExists(atPath: teacher.checkpoint) else {
                throw JobError(file: "job \(job.spec.name)", line: nil, "teacher '\(teacher.name)': no checkpoint at \(teacher.checkpoint) (distillery run trains missing teachers first)")
            }
            return try SHA256.hex(ofFile: teacher.checkpoint)
        }
        security = try ClusterSecurity(job: job.spec)
        socket = try Socket(context, .router)
        try socket.set(.linger(1000))
        try socket.set(.maxMessageSize(Int64(WireLimits.standard.maximumHeaderBytes)))
        // A worker that reconnects under its old identity (after a partition) takes over its route.
        try socket.set(.routerHandover(true))
        try security.secureServer(socket, context: context)
        try socket.bind(bind)
        endpoint = socket.lastEndpoint
        log.info("job \(job.spec.name): \(job.plan.itemCount) work items (\(job.plan.shardsPerEpoch) shards x \(job.plan.members.count) members x \(job.plan.teacherEpochs) epochs), \(scheduler.done.count) already done; listening on \(endpoint)\(security.isEncrypted ? " (CURVE)" : " (plain TCP)")")
        // Written last: a launcher that sees this file may connect.
        try? FileManager.default.removeItem(atPath: "\(stateDirectory)/endpoint")
        try Data("\(endpoint)\n".utf8).write(to: URL(fileURLWithPath: "\(stateDirectory)/endpoint"), options: .atomic)
    }

    /// Serves until the job completes or fails, or `shouldStop` turns true.
    public func run(shouldStop: () -> Bool) throws -> Outcome {
        defer { security.stop() }
        while true {
            if shouldStop() {
                broadcastGoodbye("coordinator stopped")
                log.info("stopped; state kept for a restart")
                return .stopped
            }
            if try Poller.readable([socket], timeoutMilliseconds: 50)[0] {
                // A bounded batch, committed together (one fsync for all its receipts): under a steady stream of
                // messages, work requests still get answered promptly. Assignments go out before the commit; a
                // receipt lost to a crash before it only means the item is computed and delivered again.
                try state.batch {
                    var handled = 0
                    while handled < 16, let frames = try socket.receive(dontWait: true) {
                        handle(frames)
                        handled += 1
                    }
                    assignWork()
                }
            }
            let now = monotonicSeconds()
            if let failure = checkLeases(now) { return try fail(failure) }
            assignWork()
            if now - lastGaugeUpdate > 0.5 {
                lastGaugeUpdate = now
                updateGauges()
            }
            if scheduler.isComplete && studentsFinished {
                try state.setStatus("complete")
                broadcastGoodbye("job complete")
                log.info("job complete: \(scheduler.done.count) items, \(state.duplicateReceipts) duplicate deliveries ignored")
                return .complete
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
        broadcastGoodbye("job failed: \(reason)")
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
            log.warning("refused a message from \(describe(routingID)): \(error.message)")
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
            send(.error(code: .malformed, message: "this coordinator runs job '\(job.spec.name)', not '\(envelope.jobID)'"), to: routingID)
            return
        }
        let now = monotonicSeconds()
        if case .statusRequest = envelope.kind {
            send(.statusReply(json: statusJSON(now: now)), to: routingID)
            return
        }
        if case let .hello(hello) = envelope.kind {
            handleHello(hello, name: envelope.sender, routingID: routingID, now: now)
            return
        }
        guard var worker = workers[routingID] else {
            send(.error(code: .unauthorized, message: "unknown worker: say hello first"), to: routingID)
            return
        }
        worker.leaseDeadline = now + leaseSeconds
        workers[routingID] = worker
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
                log.info("\(worker.id) finished\(c.path.isEmpty ? "" : ": \(c.path)")")
            }
        case let .goodbye(reason, returned):
            workers[routingID] = nil
            // Everything it held goes back, the items it names among them.
            let held = scheduler.release(worker: worker.id)
            metrics.requeued.increment(by: Int64(held.count))
            log.info("\(worker.id) left (\(reason)); \(returned.count) items handed back, \(held.count) re-queued")
            if worker.role == .student && !worker.finished {
                pendingFailure = "student replica \(worker.replica ?? -1) left before the end (\(reason))"
            }
        default:
            send(.error(code: .unknownKind, message: "the coordinator does not accept this message kind"), to: routingID)
        }
    }

    private var pendingFailure: String?

    private func handleHello(_ hello: Hello, name: String, routingID: [UInt8], now: Double) {
        var worker = workers[routingID] ?? Worker(id: "", routingID: routingID, role: hello.role, name: name, leaseDeadline: now + leaseSeconds)
        if worker.id.isEmpty {
            let number = nextWorkerNumber[hello.role, default: 1]
            nextWorkerNumber[hello.role] = number + 1
            worker.id = "\(hello.role == .teacher ? "teacher" : "student")-\(number)"
        }
        worker.leaseDeadline = now + leaseSeconds
        switch hello.role {
        case .teacher:
            var members: Set<Int> = []
            for model in hello.models {
                guard let index = job.plan.members.firstIndex(of: model.member) else {
                    send(.error(code: .modelMismatch, message: "member '\(model.member)' is not in job '\(job.spec.name)'"), to: routingID)
                    return
                }
                guard model.sha256 == memberHashes[index] else {
                    send(.error(code: .modelMismatch, message: "member '\(model.member)': your checkpoint's SHA-256 \(model.sha256.prefix(12)) differs from the job's \(memberHashes[index].prefix(12)) (\(job.spec.teachers[index].checkpoint))"), to: routingID)
                    return
                }
                members.insert(index)
            }
            worker.members = members
            // A teacher that says hello again has dropped what it held (it re-registers after a
            // coordinator restart): its items go back to the queue and its credits start over.
            let released = scheduler.release(worker: worker.id)
            metrics.requeued.increment(by: Int64(released.count))
            if !released.isEmpty { log.info("\(worker.id) registered again; \(released.count) items it held re-queued") }
            worker.credits = 0
            workers[routingID] = worker
            if !members.isEmpty { log.info("\(worker.id) (\(name)) serves \(members.sorted().map { job.plan.members[$0] }.joined(separator: ", "))") }
            send(.welcome(welcome(worker.id)), to: routingID)
        case .student:
            guard let endpoint = hello.dataEndpoint else {
                send(.error(code: .malformed, message: "a student's hello needs its data endpoint"), to: routingID)
                return
            }
            if let replica = roster.first(where: { $0.value == endpoint })?.key {
                worker.replica = replica
            } else if roster.count < job.spec.student.replicas {
                let replica = (0..<job.spec.student.replicas).first { roster[$0] == nil }!
                do { try state.addToRoster(replica: replica, endpoint: endpoint) } catch {
                    log.error("cannot record the roster: \(error)")
                    return
                }
                roster[replica] = endpoint
                worker.replica = replica
            } else {
                send(.error(code: .unauthorized, message: "all \(job.spec.student.replicas) student replicas of this job are taken"), to: routingID)
                return
            }
            // Replaces a stale entry of the same replica (a student that reconnected).
            workers = workers.filter { $0.value.role != .student || $0.value.replica != worker.replica || $0.key == routingID }
            workers[routingID] = worker
            log.info("\(worker.id) (\(name)) is replica \(worker.replica!) at \(endpoint)")
            welcomeStudentsWhenAllJoined()
        default:
            send(.error(code: .malformed, message: "only teachers and students say hello to a coordinator"), to: routingID)
        }
    }

    private func welcome(_ id: String, replica: Int? = nil) -> Welcome {
        let peers = replica == nil ? [] : (0..<job.spec.student.replicas).map { roster[$0]! }
        return Welcome(workerID: id, leaseMilliseconds: UInt32(job.spec.cluster.leaseMilliseconds),
                       heartbeatIntervalMilliseconds: UInt32(job.spec.cluster.heartbeatMilliseconds),
                       credits: UInt32(job.spec.cluster.credits), jobYAML: job.yaml, jobDirectory: job.directory,
                       replica: replica.map(UInt32.init), peers: peers)
    }

    /// Students learn their peers only when every replica has joined.
    private func welcomeStudentsWhenAllJoined() {
        guard roster.count == job.spec.student.replicas else { return }
        for (routingID, worker) in workers where worker.role == .student && !worker.welcomed {
            send(.welcome(welcome(worker.id, replica: worker.replica)), to: routingID)
            workers[routingID]?.welcomed = true
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

    private var leaseSeconds: Double { Double(job.spec.cluster.leaseMilliseconds) / 1000 }

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

    /// How far along the timeline teachers may run ahead of the slowest student.
    private var timelineLimit: Int {
        guard roster.count == job.spec.student.replicas else { return 0 }
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
        let now = monotonicSeconds()
        for (routingID, worker) in workers where worker.role == .teacher && worker.credits > 0 && !worker.members.isEmpty {
            var credits = worker.credits
            while credits > 0, let id = scheduler.next(members: worker.members, timelineLimit: limit) {
                let item = job.plan.item(id)!
                let positions = job.plan.positions(shard: item.shard)
                let assignment = WorkAssignment(
                    workID: id, epoch: UInt32(item.epoch), shard: UInt32(item.shard),
                    ranges: [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))],
                    member: job.plan.members[item.member], augmentationSeed: job.augmentationSeed(epoch: item.epoch),
                    temperature: Float(job.spec.temperature), destinations: destinations)
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

    private func send(_ kind: MessageKind, to routingID: [UInt8]) {
        let frames = WireMessage(Envelope(jobID: job.spec.name, sender: "coordinator", kind: kind)).frames(to: routingID)
        metrics.wire.sent(frames)
        do { try socket.send(frames, dontWait: true) } catch {
            log.warning("cannot send to \(describe(routingID)): \(error)")
        }
    }

    private func broadcastGoodbye(_ reason: String) {
        for routingID in workers.keys { send(.goodbye(reason: reason, returnedWorkIDs: []), to: routingID) }
    }

    private func describe(_ routingID: [UInt8]) -> String {
        workers[routingID]?.id ?? "an unregistered peer"
    }
}
