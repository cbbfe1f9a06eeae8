import Cluster
import Foundation
import Testing
import TestSupport
import Wire

/// The student daemon's core on in-memory transports: the test plays the coordinator and the teachers.
@Suite struct StudentCoreTests {
    final class Student: @unchecked Sendable {  // the student's thread alone uses `trainer` and writes `summary` (read after `done`)
        let harness: ClusterHarness
        let job: JobContext
        let control = InMemoryDealer()
        let inbox = InMemoryDataInbox()
        let tokens = AssignmentToken(key: AssignmentToken.randomKey())
        private var trainer: StudentTrainer!
        private let done = DispatchSemaphore(value: 0)
        private(set) var summary: Result<StudentTrainer.Summary, Error>?

        init(_ label: String) throws {
            var settings = ClusterHarness.Settings()
            settings.trainSamples = 500
            settings.testSamples = 100
            settings.epochs = 2
            harness = try ClusterHarness(label, settings)
            job = try JobContext.load(path: harness.jobPath)
            control.deliver(.welcome(Welcome(workerID: "student-1", leaseMilliseconds: 1500, heartbeatIntervalMilliseconds: 100, credits: 0,
                                             jobYAML: job.yaml, jobDirectory: harness.directory.path, replica: 0, peers: [inbox.endpoint],
                                             assignmentKey: tokens.key)), job: job.spec.name)
            trainer = try StudentTrainer(.init(coordinator: "inproc://coordinator", name: "s"), control: control, inbox: inbox)
            Thread { [self] in
                summary = Result { try self.trainer.run(shouldStop: { false }) }
                done.signal()
            }.start()
        }

        /// Soft targets for `id` as teacher "t" sends them: uniform probabilities, with a token for `worker`.
        func deliver(_ id: UInt64, temperature: Float? = nil, tokenFor worker: String = "t") {
            let item = job.plan.item(id)!
            let positions = job.plan.positions(shard: item.shard)
            let member = job.plan.members[item.member]
            let body = SoftTargets(workID: id, epoch: UInt32(item.epoch), shard: UInt32(item.shard), member: member,
                                   temperature: temperature ?? Float(job.spec.temperature), probabilities: true,
                                   ranges: [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))],
                                   token: tokens.token(worker: worker, workID: id, member: member))
            let values = [Float](repeating: 0.25, count: positions.count * 4)
            inbox.deliver(WireMessage(Envelope(jobID: job.spec.name, sender: "t", kind: .softTargets(body)),
                                      tensors: [WireTensor(name: "targets", values: values, shape: [positions.count, 4], format: .float32)]))
        }

        /// What the student sent the coordinator until `until` holds (or 30 s pass).
        func sent(until: ([ReceivedMessage]) -> Bool) throws -> [ReceivedMessage] {
            try control.collectSent(by: "student", timeout: 30, until: until)
        }

        func finish() throws -> StudentTrainer.Summary? {
            #expect(done.wait(timeout: .now() + 30) == .success, "the student did not return")
            return try summary?.get()
        }
    }

    @Test func deliveriesAreCheckedAcknowledgedEvenTwiceAndTrainedOn() throws {
        let student = try Student("student-core")
        let hello = try student.sent { $0.contains { if case .hello = $0.envelope.kind { true } else { false } } }
        #expect(hello.contains { if case let .hello(h) = $0.envelope.kind { h.role == .student && h.dataEndpoint == student.inbox.endpoint } else { false } })
        let items = UInt64(student.job.plan.itemCount)
        #expect(items == 4)
        // Refused: a token made for another teacher, a temperature not the job's. Then every item, item 0 twice.
        student.deliver(1, tokenFor: "someone-else")
        student.deliver(2, temperature: 3)
        for id in 0..<items { student.deliver(id) }
        student.deliver(0)
        let sent = try student.sent { $0.contains { if case let .checkpoint(c) = $0.envelope.kind { c.isFinal } else { false } } }
        student.control.deliver(.goodbye(Goodbye(reason: "job complete", ending: .complete)), job: student.job.spec.name)
        let summary = try #require(try student.finish())
        let receipts = sent.compactMap { if case let .workDone(id, _) = $0.envelope.kind { id } else { nil } }
        #expect(receipts.sorted() == [0, 0, 1, 2, 3], "receipts \(receipts)")
        // 500 samples in batches of 50, two epochs; replica 0 writes the checkpoint.
        #expect(summary.steps == 20 && summary.replica == 0)
        #expect(FileManager.default.fileExists(atPath: try #require(summary.checkpoint)))
    }
}
