import Cluster
import Foundation
import NeuralNet
import Synchronization
import Testing
import TestSupport
import Wire

/// The teacher daemon's core on in-memory transports: the test plays the coordinator and reads what the
/// teacher pushes to its students. Milliseconds, no socket; the process tests prove the real ones.
@Suite struct TeacherCoreTests {
    final class Clock: Sendable {
        let seconds = Mutex(1000.0)
        var now: Double { seconds.withLock { $0 } }
        func advance(_ s: Double) { seconds.withLock { $0 += s } }
    }

    /// A teacher serving the harness's job, run on its own thread until it returns.
    final class Teacher: @unchecked Sendable {  // the teacher's thread alone uses `worker` and writes `goodbye` (read after `done`)
        let harness: ClusterHarness
        private var worker: TeacherWorker!
        let job: JobContext
        let dealer = InMemoryDealer()
        let pushes = InMemoryPushes()
        let clock = Clock()
        let stop = Atomic<Bool>(false)
        private let done = DispatchSemaphore(value: 0)
        private(set) var goodbye: Result<Goodbye?, Error>?

        init(_ label: String) throws {
            harness = try ClusterHarness(label)
            job = try JobContext.load(path: harness.jobPath)
            let welcome = Welcome(workerID: "teacher-1", leaseMilliseconds: 1500, heartbeatIntervalMilliseconds: 100, credits: 2,
                                  jobYAML: job.yaml, jobDirectory: harness.directory.path)
            dealer.deliver(.welcome(welcome), job: job.spec.name)
            worker = try TeacherWorker(.init(coordinator: "inproc://coordinator", name: "t"), transport: dealer,
                                           pushes: { [pushes] endpoint, _ in pushes.outlet(to: endpoint) }, clock: { [clock] in clock.now })
            let thread = Thread { [self] in
                goodbye = Result { try self.worker.run(shouldStop: { self.stop.load(ordering: .relaxed) }) }
                done.signal()
            }
            thread.start()
        }

        func say(_ kind: MessageKind) { dealer.deliver(kind, job: job.spec.name) }

        /// What the teacher sent the coordinator until `until` holds (or 10 s pass).
        func sent(until: ([ReceivedMessage]) -> Bool) throws -> [ReceivedMessage] {
            try dealer.collectSent(by: "teacher", timeout: 10, until: until)
        }

        func finish() throws -> Goodbye? {
            #expect(done.wait(timeout: .now() + 10) == .success, "the teacher did not return")
            return try goodbye?.get() ?? nil
        }

        func assignment(_ id: UInt64, member: String, to destination: String = "tcp://student:1") -> WorkAssignment {
            let item = job.plan.item(id)!
            let positions = job.plan.positions(shard: item.shard)
            return WorkAssignment(workID: id, epoch: UInt32(item.epoch), shard: UInt32(item.shard),
                                  ranges: [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))], member: member,
                                  augmentationSeed: job.augmentationSeed(epoch: item.epoch), temperature: 2, destinations: [destination],
                                  token: [1, 2, 3])
        }
    }

    static func isHello(_ m: ReceivedMessage, withModels: Bool) -> Bool {
        if case let .hello(h) = m.envelope.kind { return h.role == .teacher && h.models.isEmpty != withModels }
        return false
    }

    @Test func anAssignmentBecomesTheMembersSoftTargetsAReceiptAndACredit() throws {
        let teacher = try Teacher("teacher-core-serve")
        let registered = try teacher.sent { $0.contains { Self.isHello($0, withModels: true) } }
        let hello = try #require(registered.compactMap { if case let .hello(h) = $0.envelope.kind, !h.models.isEmpty { h } else { nil } }.first)
        let hashes = try teacher.job.spec.teachers.map { ModelHash(member: $0.name, sha256: try SHA256.hex(ofFile: $0.checkpoint)) }
        #expect(hello.models.sorted { $0.member < $1.member } == hashes)
        #expect(registered.contains { if case .workRequest(credits: 2) = $0.envelope.kind { true } else { false } })

        // One member it does not hold (ignored), then one it does.
        let member = teacher.job.plan.members[1]
        teacher.say(.workAssignment(teacher.assignment(3, member: "nobody")))
        teacher.say(.workAssignment(teacher.assignment(3 + UInt64(teacher.job.plan.shardsPerEpoch), member: member)))
        let after = try teacher.sent { $0.contains { if case .workDone = $0.envelope.kind { true } else { false } } }
        let receipts = after.compactMap { if case let .workDone(id, samples) = $0.envelope.kind { (id, samples) } else { nil } }
        #expect(receipts.map(\.0) == [3 + UInt64(teacher.job.plan.shardsPerEpoch)] && receipts[0].1 == 250)
        teacher.say(.goodbye(Goodbye(reason: "job complete", ending: .complete)))
        #expect(try teacher.finish()?.ending == .complete)

        let pushed = try teacher.pushes.messages(to: "tcp://student:1")
        #expect(pushed.count == 1)
        guard case let .softTargets(targets)? = pushed.first?.envelope.kind else { Issue.record("no soft targets pushed"); return }
        #expect(targets.member == member && targets.token == [1, 2, 3] && targets.temperature == 2 && targets.probabilities)
        // The member's own probabilities at T = 2 on the shard's samples, in the epoch's order.
        let item = teacher.job.plan.item(targets.workID)!
        let order = teacher.job.plan.order(epoch: item.epoch)
        let indices = Array(order[teacher.job.plan.positions(shard: item.shard)])
        let model = try TeacherModel.load(teacher.job.spec.teachers[1], context: teacher.job)
        let logits = try model.model.logits(teacher.job.split.train.batch(indices, normalization: model.normalization).images)
        let expected = Ensemble.memberOutput(logits, temperature: 2, rule: .probabilities)
        let got = try pushed[0].tensor(0)
        #expect(got.count == expected.count && zip(got, expected.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func aCoordinatorThatForgotItIsAnsweredWithAHelloOncePerBurst() throws {
        let teacher = try Teacher("teacher-core-forgotten")
        _ = try teacher.sent { $0.contains { Self.isHello($0, withModels: true) } }
        // Right after registering: a burst of "unknown worker" replies to messages queued earlier needs no hello.
        teacher.say(.error(code: .unknownWorker, message: "unknown worker"))
        teacher.clock.advance(2)
        teacher.say(.error(code: .unknownWorker, message: "unknown worker"))
        teacher.say(.error(code: .unknownWorker, message: "unknown worker"))
        let again = try teacher.sent { $0.contains { Self.isHello($0, withModels: true) } }
        teacher.stop.store(true, ordering: .relaxed)
        _ = try teacher.finish()
        let hellos = (again + (try teacher.dealer.takeSent())).filter { Self.isHello($0, withModels: true) }
        #expect(hellos.count == 1, "one hello for the burst, got \(hellos.count)")
    }
}
