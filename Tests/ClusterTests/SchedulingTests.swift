import Compute
import Foundation
import NeuralNet
import Storage
import Testing
import Wire
@testable import Cluster

@Suite struct WorkPlanTests {
    let plan = WorkPlan(sampleCount: 1000, shardSize: 300, members: ["a", "b", "c"], epochs: 4, cached: false, seed: 9)

    @Test func idsNumberEveryItemOnceInTimelineOrder() {
        #expect(plan.shardsPerEpoch == 4)
        #expect(plan.itemCount == 4 * 4 * 3)
        var seen = Set<UInt64>()
        var lastStart = -1
        for id in 0..<UInt64(plan.itemCount) {
            let item = plan.item(id)!
            #expect(plan.id(item) == id)
            #expect(seen.insert(id).inserted)
            #expect(plan.timelineStart(item) >= lastStart)
            lastStart = plan.timelineStart(item)
        }
        #expect(plan.item(UInt64(plan.itemCount)) == nil)
        #expect(plan.positions(shard: 3) == 900..<1000)
    }

    @Test func cachedPlansAskTheTeachersForOneEpochOnly() {
        let cached = WorkPlan(sampleCount: 1000, shardSize: 300, members: ["a"], epochs: 4, cached: true, seed: 9)
        #expect(cached.teacherEpochs == 1 && cached.itemCount == 4)
    }
}

@Suite struct SchedulerTests {
    let plan = WorkPlan(sampleCount: 100, shardSize: 25, members: ["a", "b"], epochs: 2, cached: false, seed: 1)

    @Test func handsOutLowestOpenItemsForTheWorkersMembers() {
        var s = Scheduler(plan: plan)
        #expect(s.next(members: [1], timelineLimit: .max) == 1)
        s.assign(1, to: "w1")
        #expect(s.next(members: [1], timelineLimit: .max) == 3)
        #expect(s.next(members: [0, 1], timelineLimit: .max) == 0)
        // Nothing beyond the window: item 8 starts at epoch 1.
        #expect(s.next(members: [0], timelineLimit: 100) == 0)
        for id in [0, 2, 4, 6] as [UInt64] { s.assign(id, to: "w2") }
        #expect(s.next(members: [0], timelineLimit: 100) == nil)
    }

    @Test func releasesTheWorkOfALostWorkerAndCompletesExactlyOnce() {
        var s = Scheduler(plan: plan)
        s.assign(0, to: "w1"); s.assign(1, to: "w2"); s.assign(2, to: "w1")
        let first = s.complete(2), second = s.complete(2)
        #expect(first && !second, "a second completion is not news")
        let released = s.release(worker: "w1")
        #expect(released == [0])
        #expect(s.next(members: [0, 1], timelineLimit: .max) == 0)
        #expect(s.owner[1] == "w2")
        for id in 0..<UInt64(plan.itemCount) { s.complete(id) }
        #expect(s.isComplete && s.heldCount == 0)
    }

    @Test func requeuesDeliveriesThatNeverGotTheirReceipts() {
        var s = Scheduler(plan: plan)
        s.assign(5, to: "w1")
        s.delivered(5, at: 10)
        let early = s.releaseUnconfirmed(sentBefore: 5), late = s.releaseUnconfirmed(sentBefore: 11)
        #expect(early.isEmpty && late == [5])
        #expect(s.owner[5] == nil)
    }

    @Test func resumesFromCompletedItems() {
        let s = Scheduler(plan: plan, done: [0, 1, 2])
        #expect(s.next(members: [0, 1], timelineLimit: .max) == 3)
    }
}

@Suite struct SoftTargetStoreTests {
    @Test func combinesMembersExactlyAsTheInProcessEnsemble() throws {
        let plan = WorkPlan(sampleCount: 10, shardSize: 4, members: ["a", "b"], epochs: 1, cached: false, seed: 2)
        var rng = SeededRandom(seed: 3)
        let logits = (0..<2).map { _ in Tensor(shape: [10, 3], scalars: (0..<30).map { _ in Float(rng.nextInt(below: 1000)) / 100 - 5 }) }
        let order = plan.order(epoch: 0)
        for rule in [Ensemble.Rule.probabilities, .logits] {
            var store = SoftTargetStore(plan: plan, columns: 3, temperature: 2, rule: rule)
            for shard in 0..<plan.shardsPerEpoch {
                let rows = plan.positions(shard: shard)
                for member in 0..<2 {
                    let part = Tensor(shape: [rows.count, 3], scalars: Array(logits[member].scalars[(rows.lowerBound * 3)..<(rows.upperBound * 3)]))
                    let sent = rule == .probabilities ? Softmax.probabilities(part, temperature: 2) : part
                    #expect(store.targets(epoch: 0, positions: rows, order: order) == nil)
                    let added = store.add(itemID: plan.id(.init(epoch: 0, shard: shard, member: member)), values: sent.scalars) { order }
                    #expect(added)
                }
            }
            let duplicate = store.add(itemID: 0, values: [Float](repeating: 0, count: 12)) { order }
            #expect(!duplicate, "duplicates are ignored")
            let expected = Ensemble.softTargets(logits, temperature: 2, rule: rule)
            #expect(store.targets(epoch: 0, positions: 0..<10, order: order)?.scalars == expected.scalars)
        }
    }

    /// Two members' top-k rows with their tails (decoded from the wire) and a language model's rows per window: the
    /// ensemble keeps the classes both members sent at their weighted mean; the rest, a class only one sent included,
    /// is the tail, exactly the mixture's mass outside the kept classes.
    @Test func topKMembersCombineIntoTheUnionAndTheTailOfTheRest() throws {
        let plan = WorkPlan(sampleCount: 2, shardSize: 2, members: ["a", "b"], epochs: 1, cached: false, seed: 1, rowsPerSample: 2)
        let classes = 5
        let probabilities = (0..<2).map { m in Softmax.probabilities(Tensor(shape: [4, classes], scalars: (0..<20).map { Float(sin(Double($0 * (m + 2)))) * 3 })) }
        var store = SoftTargetStore(plan: plan, columns: classes + 1, withTail: true, temperature: 1, rule: .probabilities, weights: [3, 1])
        var decoded: [[Float]] = []
        for m in 0..<2 {
            let wire = WireTensor(name: "t", values: probabilities[m].scalars, shape: [4, classes], format: .topK(2, .float32))
            decoded.append(try wire.frame.withUnsafeBytes { try WireTensor.decode(wire.descriptor, frame: $0) })
            store.add(itemID: plan.id(.init(epoch: 0, shard: 0, member: m)), values: decoded[m]) { plan.order(epoch: 0) }
        }
        let combined = try #require(store.targets(epoch: 0, positions: 0..<2, order: plan.order(epoch: 0)))
        #expect(combined.shape == [4, classes + 1])
        for r in 0..<4 {
            let row = Array(combined.scalars[(r * 6)..<(r * 6 + 6)])
            let exact = (0..<classes).map { 0.75 * probabilities[0].scalars[r * classes + $0] + 0.25 * probabilities[1].scalars[r * classes + $0] }
            let common = (0..<classes).filter { decoded[0][r * 6 + $0] > 0 && decoded[1][r * 6 + $0] > 0 }
            for c in 0..<classes { #expect(abs(row[c] - (common.contains(c) ? exact[c] : 0)) < 1e-6) }
            let outside = (0..<classes).filter { !common.contains($0) }.reduce(Float(0)) { $0 + exact[$1] }
            #expect(abs(row[classes] - outside) < 1e-5, "row \(r): tail \(row[classes]), mass outside \(outside)")
        }
    }

    @Test func cachedTargetsFollowTheSampleIntoLaterEpochs() {
        let plan = WorkPlan(sampleCount: 6, shardSize: 3, members: ["a"], epochs: 3, cached: true, seed: 4)
        var store = SoftTargetStore(plan: plan, columns: 2, temperature: 1, rule: .probabilities)
        let order0 = plan.order(epoch: 0)
        // Row r of epoch 0 is sample order0[r]; give sample s the target (s, -s).
        for shard in 0..<2 {
            let values = plan.positions(shard: shard).flatMap { [Float(order0[$0]), -Float(order0[$0])] }
            store.add(itemID: UInt64(shard), values: values) { order0 }
        }
        let order2 = plan.order(epoch: 2)
        let t = store.targets(epoch: 0, positions: 0..<6, order: order2)!
        #expect(t.scalars == order2.flatMap { [Float($0), -Float($0)] })
    }
}

@Suite struct CoordinatorStateTests {
    @Test func receiptsSurviveReopeningAndCountDuplicates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let state = try CoordinatorState(directory: dir, jobYAML: "name: j\n", replicas: 2)
            #expect(try state.recordReceipt(item: 7, replica: 0) == (true, false))
            #expect(try state.recordReceipt(item: 7, replica: 1) == (true, true))
            #expect(try state.recordReceipt(item: 7, replica: 1) == (false, true))
            #expect(try state.recordReceipt(item: 8, replica: 0) == (true, false))
            try state.addToRoster(replica: 0, endpoint: "tcp://a:1")
            try state.recordEpoch(.init(epoch: 0, replica: 0, samples: 100, trainLoss: 0.5, testAccuracy: 0.9, seconds: 2))
        }
        let reopened = try CoordinatorState(directory: dir, jobYAML: "name: j\n", replicas: 2)
        #expect(try reopened.completedItems() == [7])
        #expect(reopened.duplicateReceipts == 1)
        #expect(try reopened.roster() == [0: "tcp://a:1"])
        #expect(try reopened.epochs().first?.testAccuracy == 0.9)
        #expect(throws: SQLiteError.self) { try CoordinatorState(directory: dir, jobYAML: "name: other\n", replicas: 2) }
    }

    @Test func aCorruptStateFileIsReportedNotLoaded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: "\(dir)/state.sqlite"))
        let error = #expect(throws: SQLiteError.self) { try CoordinatorState(directory: dir, jobYAML: "name: j\n", replicas: 1) }
        #expect(error?.description.contains("state.sqlite") == true)
    }
}
