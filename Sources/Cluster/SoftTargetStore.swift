import Compute
import NeuralNet

/// The student's side of the data plane: the members' outputs per (epoch, shard) as they arrive, the
/// ensemble target once every member is in, and, when soft targets are cached, one target per sample
/// kept for later epochs. Deliveries are idempotent: a shard sent twice (after a re-queue) is ignored.
public struct SoftTargetStore {
    struct ShardKey: Hashable { var epoch: Int, shard: Int }

    public let plan: WorkPlan
    public let classes: Int
    public let temperature: Float
    public let rule: Ensemble.Rule
    public let cached: Bool
    private var received: Set<UInt64> = []
    private var partial: [ShardKey: [Int: [Float]]] = [:]
    private var combined: [ShardKey: [Float]] = [:]
    private var perSample: [Float]
    private var perSampleReady: [Bool]

    public init(plan: WorkPlan, classes: Int, temperature: Float, rule: Ensemble.Rule) {
        self.plan = plan
        self.classes = classes
        self.temperature = temperature
        self.rule = rule
        cached = plan.teacherEpochs < plan.epochs
        perSample = cached ? [Float](repeating: 0, count: plan.sampleCount * classes) : []
        perSampleReady = cached ? [Bool](repeating: false, count: plan.sampleCount) : []
    }

    public var receivedCount: Int { received.count }
    /// Shards received (whole or in part) and not yet trained past: the student's queue depth.
    public var heldShards: Int { partial.count + combined.count }

    /// Adds one member's rows for an item; false when the item was already here (a duplicate).
    /// `epochOrder` is the order of the item's epoch (needed to place cached rows by sample).
    @discardableResult
    public mutating func add(itemID: UInt64, values: [Float], epochOrder: () -> [Int]) -> Bool {
        guard let item = plan.item(itemID), received.insert(itemID).inserted else { return false }
        let key = ShardKey(epoch: item.epoch, shard: item.shard)
        partial[key, default: [:]][item.member] = values
        guard partial[key]!.count == plan.members.count else { return true }
        let outputs = (0..<plan.members.count).map { partial[key]![$0]! }
        partial[key] = nil
        let rows = outputs[0].count / classes
        let target = Ensemble.combine(outputs.map { Tensor(shape: [rows, classes], scalars: $0) }, temperature: temperature, rule: rule).scalars
        if cached {
            let order = epochOrder()
            for (row, position) in plan.positions(shard: item.shard).enumerated() {
                let sample = order[position]
                perSample.replaceSubrange((sample * classes)..<((sample + 1) * classes), with: target[(row * classes)..<((row + 1) * classes)])
                perSampleReady[sample] = true
            }
        } else {
            combined[key] = target
        }
        return true
    }

    /// The ensemble targets for positions of an epoch (rows in position order), or nil while some are missing.
    public func targets(epoch: Int, positions: Range<Int>, order: [Int]) -> Tensor? {
        var out = Tensor(zeros: [positions.count, classes])
        for (row, position) in positions.enumerated() {
            let source: ArraySlice<Float>
            if cached {
                let sample = order[position]
                guard perSampleReady[sample] else { return nil }
                source = perSample[(sample * classes)..<((sample + 1) * classes)]
            } else {
                let shard = position / plan.shardSize
                guard let rows = combined[ShardKey(epoch: epoch, shard: shard)] else { return nil }
                let r = position - shard * plan.shardSize
                source = rows[(r * classes)..<((r + 1) * classes)]
            }
            out.scalars.replaceSubrange((row * classes)..<((row + 1) * classes), with: source)
        }
        return out
    }

    /// Frees shards the student has moved past.
    public mutating func discard(before epoch: Int, position: Int) {
        combined = combined.filter { key, _ in
            key.epoch > epoch || (key.epoch == epoch && (key.shard + 1) * plan.shardSize > position)
        }
    }
}
