import Foundation
import Wire

/// Hello and welcome: who a worker is (bound to its CURVE key's allow-list entry), which replica a student holds,
/// and when a newcomer may take over a replica.
extension Coordinator {
    func handleHello(_ hello: Hello, message: ReceivedMessage, routingID: [UInt8], now: Double) {
        let name = message.envelope.sender
        if let problem = WorkerName.problem(name) {
            refusals.refused("hellos with a bad worker name", problem)
            send(.error(code: .malformed, message: problem), to: routingID)
            return
        }
        var allowedMembers: Set<String>?
        if security.isEncrypted {
            // Under CURVE the connection's key says who this is and what it may do, whatever the hello claims.
            guard let user = message.userID, let entry = security.allowList?.entry(named: user) else {
                send(.error(code: .unauthorized, message: "this connection's key is not on the coordinator's allow-list"), to: routingID)
                return
            }
            let claimed = hello.role == .teacher ? ClusterAllowList.Role.teacher : hello.role == .student ? .student : nil
            guard entry.role == claimed else {
                refusals.refused("hellos in a role the key does not have", "key '\(user)' is a \(entry.role.rawValue) key, not a \(claimed?.rawValue ?? "worker") key")
                send(.error(code: .unauthorized, message: "key '\(user)' may act as a \(entry.role.rawValue), not as a \(claimed?.rawValue ?? "\(hello.role)")"), to: routingID)
                return
            }
            allowedMembers = entry.members
        }
        let identity = message.userID ?? name
        everRegistered.insert(routingID)
        var worker = workers[routingID] ?? Worker(id: "", routingID: routingID, role: hello.role, name: name, identity: identity,
                                                  leaseDeadline: now + leaseSeconds)
        if worker.id.isEmpty {
            let number = nextWorkerNumber[hello.role, default: 1]
            nextWorkerNumber[hello.role] = number + 1
            worker.id = "\(hello.role == .teacher ? "teacher" : "student")-\(number)"
        }
        worker.publicKey = message.userID.flatMap { security.allowList?.entry(named: $0)?.publicKey }
        worker.leaseDeadline = now + leaseSeconds
        switch hello.role {
        case .teacher:
            registerTeacher(hello, worker: worker, allowedMembers: allowedMembers)
        case .student:
            registerStudent(hello, worker: worker, now: now)
        default:
            send(.error(code: .malformed, message: "only teachers and students say hello to a coordinator"), to: worker.routingID)
        }
    }

    private func registerTeacher(_ hello: Hello, worker: Worker, allowedMembers: Set<String>?) {
        var worker = worker
        let routingID = worker.routingID
        var members: Set<Int> = []
        for model in hello.models {
            guard let index = job.plan.members.firstIndex(of: model.member) else {
                send(.error(code: .modelMismatch, message: "member '\(model.member.escapedForLog)' is not in job '\(job.spec.name)'"), to: routingID)
                return
            }
            if let allowedMembers, !allowedMembers.contains(model.member) {
                send(.error(code: .unauthorized, message: "key '\(worker.identity)' may not serve member '\(model.member)' (allowed: \(allowedMembers.sorted().joined(separator: ", ")))"), to: routingID)
                return
            }
            guard model.sha256 == memberHashes[index] else {
                send(.error(code: .modelMismatch, message: "member '\(model.member)': your checkpoint's SHA-256 \(String(model.sha256.prefix(12)).escapedForLog) differs from the job's \(memberHashes[index].prefix(12)) (\(job.spec.teachers[index].checkpoint))"), to: routingID)
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
        if !members.isEmpty { log.info("\(worker.id) (\(worker.name)) serves \(members.sorted().map { job.plan.members[$0] }.joined(separator: ", "))") }
        send(.welcome(welcome(worker.id)), to: routingID)
    }

    private func registerStudent(_ hello: Hello, worker: Worker, now: Double) {
        var worker = worker
        let routingID = worker.routingID
        guard let endpoint = hello.dataEndpoint else {
            send(.error(code: .malformed, message: "a student's hello needs its data endpoint"), to: routingID)
            return
        }
        if let replica = roster.first(where: { $0.value == endpoint })?.key {
            // The replica's own endpoint: a student rejoining (after a coordinator restart, say). Not while another
            // live connection holds that replica: that would be a hijack.
            if let holder = liveHolder(of: replica, now: now), holder.routingID != routingID {
                refusals.refused("hellos for a replica a live student holds", "\(worker.name) claimed replica \(replica), held by \(holder.id) (\(holder.name))")
                send(.error(code: .unauthorized, message: "replica \(replica) (\(endpoint.escapedForLog)) is held by a live student; a newcomer may take it only after its holder has been silent for \(job.spec.cluster.leaseMilliseconds) ms"), to: routingID)
                return
            }
            worker.replica = replica
        } else if roster.count < job.spec.student.replicas {
            let replica = (0..<job.spec.student.replicas).first { roster[$0] == nil }!
            do { try state.addToRoster(replica: replica, endpoint: endpoint) } catch {
                log.error("cannot record the roster: \(error)")
                return
            }
            roster[replica] = endpoint
            worker.replica = replica
        } else if let replica = (0..<job.spec.student.replicas).first(where: { liveHolder(of: $0, now: now) == nil }) {
            // Every replica is taken, but this one's holder is not connected: it may still come back within a lease
            // of last being heard; after that a newcomer takes its place and starts over.
            let silent = now - (replicaLastSeen[replica] ?? started)
            guard silent > leaseSeconds else {
                refusals.refused("hellos waiting for a replica's holder", "\(worker.name) waits for replica \(replica) (its holder was heard \(Int(silent * 1000)) ms ago)")
                return  // no answer: the newcomer's handshake says hello again
            }
            do {
                let dropped = try state.replaceInRoster(replica: replica, endpoint: endpoint)
                scheduler = Scheduler(plan: job.plan, done: try state.completedItems())
                log.warning("\(worker.id) (\(worker.name)) takes over replica \(replica), silent for \(Int(silent)) s: it starts from scratch; \(dropped) receipts of the old holder dropped")
            } catch {
                log.error("cannot record the roster: \(error)")
                return
            }
            roster[replica] = endpoint
            worker.replica = replica
        } else {
            send(.error(code: .unauthorized, message: "all \(job.spec.student.replicas) student replicas of this job are held by live students"), to: routingID)
            return
        }
        // Replaces a stale entry of the same replica (a student that reconnected).
        workers = workers.filter { $0.value.role != .student || $0.value.replica != worker.replica || $0.key == routingID }
        workers[routingID] = worker
        replicaLastSeen[worker.replica!] = now
        log.info("\(worker.id) (\(worker.name)) is replica \(worker.replica!) at \(endpoint.escapedForLog)")
        welcomeStudentsWhenAllJoined()
    }

    /// The registered student holding `replica` whose lease has not run out.
    func liveHolder(of replica: Int, now: Double) -> Worker? {
        workers.values.first { $0.role == .student && $0.replica == replica && $0.leaseDeadline >= now }
    }

    /// The registered student of each replica, by replica index (nil where none is).
    var registeredStudents: [Worker?] {
        (0..<job.spec.student.replicas).map { r in workers.values.first { $0.role == .student && $0.replica == r } }
    }

    func welcome(_ id: String, replica: Int? = nil) -> Welcome {
        let students = registeredStudents
        let peers = replica == nil ? [] : (0..<job.spec.student.replicas).map { roster[$0]! }
        return Welcome(workerID: id, leaseMilliseconds: UInt32(job.spec.cluster.leaseMilliseconds),
                       heartbeatIntervalMilliseconds: UInt32(job.spec.cluster.heartbeatMilliseconds),
                       credits: UInt32(job.spec.cluster.credits), jobYAML: job.yaml, jobDirectory: job.directory,
                       replica: replica.map(UInt32.init), peers: peers,
                       assignmentKey: replica == nil ? nil : tokens.key,
                       peerKeys: replica == nil ? [] : students.compactMap { $0?.publicKey })
    }

    /// Students learn their peers (and their keys) only when every replica has a registered student.
    func welcomeStudentsWhenAllJoined() {
        guard registeredStudents.allSatisfy({ $0 != nil }) else { return }
        for (routingID, worker) in workers where worker.role == .student && !worker.welcomed {
            send(.welcome(welcome(worker.id, replica: worker.replica)), to: routingID)
            workers[routingID]?.welcomed = true
        }
    }
}
