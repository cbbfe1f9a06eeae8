import Cluster
import Foundation
import Testing
import TestSupport
import Wire

/// The coordinator's core on the in-memory transport with a clock the test turns: each protocol rule in
/// milliseconds, no process and no socket. The process tests prove the real sockets.
@Suite struct CoordinatorCoreTests {
    final class Clock: @unchecked Sendable {  // read and turned on the test's one thread
        var now = 1000.0
    }

    /// A job (two members of 12 shards each, one student replica, lease 1.5 s) and its coordinator's core.
    final class Core {
        let harness: ClusterHarness
        let job: JobContext
        let clock = Clock()
        let router = InMemoryRouter()
        var coordinator: Coordinator!
        let hashes: [String]

        init(_ label: String) throws {
            harness = try ClusterHarness(label)
            job = try JobContext.load(path: harness.jobPath)
            hashes = try job.spec.teachers.map { try SHA256.hex(ofFile: $0.checkpoint) }
            try start()
        }

        /// A coordinator on the job's state directory (again: as after a restart).
        func start() throws {
            coordinator = nil
            var options = Coordinator.Options()
            options.drainSeconds = 0
            let router = self.router, clock = self.clock
            coordinator = try Coordinator(job: job, transport: { _, _ in router }, stateDirectory: harness.stateDirectory,
                                          options: options, clock: { clock.now })
        }

        func say(_ kind: MessageKind, from peer: String, job name: String? = nil) {
            router.deliver(WireMessage(Envelope(jobID: name ?? job.spec.name, sender: peer, kind: kind)), from: peer)
        }

        /// Lets the core handle what was said; returns what it sent, by peer.
        @discardableResult
        func turn() throws -> (outcome: Coordinator.Outcome?, sent: [(peer: String, kind: MessageKind)]) {
            let outcome = try coordinator.serve(waitingMilliseconds: 0)
            return (outcome, try router.takeSent().map { ($0.peer, $0.message.envelope.kind) })
        }

        func teacherHello(_ peer: String, members: [Int] = [0, 1]) {
            say(.hello(Hello(role: .teacher, models: members.map { ModelHash(member: job.plan.members[$0], sha256: hashes[$0]) })), from: peer)
        }

        func studentHello(_ peer: String) {
            say(.hello(Hello(role: .student, dataEndpoint: "tcp://127.0.0.1:7\(peer.count)")), from: peer)
        }

        func assignments(_ sent: [(peer: String, kind: MessageKind)], to peer: String) -> [WorkAssignment] {
            sent.compactMap { if $0.peer == peer, case let .workAssignment(a) = $0.kind { a } else { nil } }
        }

        func status() throws -> ClusterStatus {
            say(.statusRequest, from: "operator")
            let reply = try turn().sent.compactMap { if case let .statusReply(json) = $0.kind { json } else { nil } }
            return try JSONDecoder().decode(ClusterStatus.self, from: Data(try #require(reply.first).utf8))
        }
    }

    static func errorCode(_ sent: [(peer: String, kind: MessageKind)], to peer: String) -> WireError.Code? {
        sent.compactMap { if $0.peer == peer, case let .error(code, _) = $0.kind { code } else { nil } }.first
    }

    @Test func helloIsWelcomedAndStrangersAreRefused() throws {
        let core = try Core("core-hello")
        core.teacherHello("t")
        var sent = try core.turn().sent
        #expect(sent.contains { if $0.peer == "t", case .welcome = $0.kind { true } else { false } }, "\(sent)")
        // A checkpoint other than the job's, a worker that never said hello, another job's message.
        core.say(.hello(Hello(role: .teacher, models: [ModelHash(member: core.job.plan.members[0], sha256: String(repeating: "0", count: 64))])), from: "forger")
        core.say(.heartbeat(Heartbeat()), from: "stranger")
        core.say(.heartbeat(Heartbeat()), from: "t", job: "another-job")
        sent = try core.turn().sent
        #expect(Self.errorCode(sent, to: "forger") == .modelMismatch)
        #expect(Self.errorCode(sent, to: "stranger") == .unknownWorker)
        #expect(Self.errorCode(sent, to: "t") == .malformed)
    }

    @Test func creditsBoundWhatATeacherIsGiven() throws {
        let core = try Core("core-credits")
        core.studentHello("s")
        core.teacherHello("t")
        try core.turn()
        // More credits than the job allows: the job's cap holds.
        let cap = core.job.spec.cluster.credits
        core.say(.workRequest(credits: UInt32(cap + 1)), from: "t")
        let first = core.assignments(try core.turn().sent, to: "t")
        #expect(first.count == cap)
        #expect(first.allSatisfy { $0.destinations == ["tcp://127.0.0.1:71"] && !$0.token.isEmpty })
        #expect(core.assignments(try core.turn().sent, to: "t").isEmpty, "assignments beyond the credits")
        core.say(.workRequest(credits: 1), from: "t")
        let next = core.assignments(try core.turn().sent, to: "t")
        #expect(next.count == 1 && !first.map(\.workID).contains(next[0].workID))
    }

    @Test func aTeacherSilentPastItsLeaseHasItsWorkRequeued() throws {
        let core = try Core("core-lease")
        core.studentHello("s")
        core.teacherHello("a")
        try core.turn()
        core.say(.workRequest(credits: 2), from: "a")
        let held = core.assignments(try core.turn().sent, to: "a").map(\.workID)
        #expect(held.count == 2)
        // The student keeps talking; teacher a says nothing for longer than the lease.
        core.clock.now += 1.0
        core.say(.heartbeat(Heartbeat()), from: "s")
        try core.turn()
        core.clock.now += 1.0
        core.say(.heartbeat(Heartbeat()), from: "s")
        try core.turn()
        #expect(try core.status().workers.map(\.role) == ["student"])
        core.teacherHello("b")
        try core.turn()
        core.say(.workRequest(credits: 2), from: "b")
        #expect(core.assignments(try core.turn().sent, to: "b").map(\.workID).sorted() == held.sorted(), "b should get what a held")
    }

    @Test func receiptsCountOnceAndOnlyForAssignedItems() throws {
        let core = try Core("core-receipts")
        core.studentHello("s")
        core.teacherHello("t")
        try core.turn()
        core.say(.workRequest(credits: 1), from: "t")
        let item = try #require(core.assignments(try core.turn().sent, to: "t").first).workID
        let neverAssigned = (0..<UInt64(core.job.plan.itemCount)).first { $0 != item }!
        core.say(.workDone(workID: item, samples: 250), from: "s")
        core.say(.workDone(workID: item, samples: 250), from: "s")
        core.say(.workDone(workID: neverAssigned, samples: 250), from: "s")
        try core.turn()
        let status = try core.status()
        #expect(status.itemsDone == 1 && status.duplicateReceipts == 1, "done \(status.itemsDone), duplicates \(status.duplicateReceipts)")
    }

    @Test func aStudentReplicaGoingSilentFailsTheJob() throws {
        let core = try Core("core-silent-student")
        core.studentHello("s")
        core.teacherHello("t")
        try core.turn()
        for _ in 0..<4 {
            core.clock.now += 0.5
            core.say(.heartbeat(Heartbeat()), from: "t")
            if case let .failed(reason)? = try core.turn().outcome {
                #expect(reason.contains("student replica 0") && reason.contains("went silent"), "\(reason)")
                return
            }
        }
        Issue.record("the job did not fail when its only student went silent")
    }

    @Test func aCoordinatorRestartedOnItsStateKeepsWhatWasDone() throws {
        let core = try Core("core-restart")
        core.studentHello("s")
        core.teacherHello("t")
        try core.turn()
        core.say(.workRequest(credits: 2), from: "t")
        let items = core.assignments(try core.turn().sent, to: "t").map(\.workID)
        for id in items { core.say(.workDone(workID: id, samples: 250), from: "s") }
        try core.turn()
        try core.start()
        // The new core does not know the workers: they are told so, and they say hello again.
        core.say(.heartbeat(Heartbeat()), from: "t")
        #expect(Self.errorCode(try core.turn().sent, to: "t") == .unknownWorker)
        #expect(try core.status().itemsDone == 2)
        core.studentHello("s")
        core.teacherHello("t")
        try core.turn()
        core.say(.workRequest(credits: 2), from: "t")
        let again = core.assignments(try core.turn().sent, to: "t").map(\.workID)
        #expect(again.count == 2 && Set(again).isDisjoint(with: items), "re-assigned finished items: \(again) after \(items)")
    }
}
