import Compute
import NeuralNet

/// The student's side of the data plane: the members' outputs per (epoch, shard) as they arrive, the
/// ensemble target once every member is in, and, when soft targets are cached, one target per sample
/// kept for later epochs. Deliveries are idempotent: a shard sent twice (after a re-queue) is ignored.
public struct SoftTargetStore {
    struct ShardKey: Hashable { var epoch: Int, shard: Int }

    public let plan: WorkPlan
    /// Values per row: the classes, and for top-k targets the tail's mass after them (`TopKCodec`).
    public let columns: Int
    /// Whether the last column is a top-k tail.
    public let withTail: Bool
    /// Values per sample: its rows (`WorkPlan.rowsPerSample`) times the columns.
    private let width: Int
    public let temperature: Float
    public let rule: Ensemble.Rule
    /// The members' weights in the mean (nil: equal).
    public let weights: [Float]?
    public let cached: Bool
    private var received: Set<UInt64> = []
    private var partial: [ShardKey: [Int: [Float]]] = [:]
    private var combined: [ShardKey: [Float]] = [:]
    private var perSample: [Float]
    private var perSampleReady: [Bool]
    /// Top-k targets kept for later epochs as what they are: per row `slots` (class, probability) pairs and the
    /// tail, 5 k + 4 bytes a position instead of 4 (classes + 1); nil when rows are kept whole.
    private var sparse: SparseRows?

    /// `keep`: for top-k targets, k (an ensemble row keeps at most that many classes), so a cache of them is sparse.
    public init(plan: WorkPlan, columns: Int, withTail: Bool = false, keep: Int? = nil, temperature: Float, rule: Ensemble.Rule,
                weights: [Float]? = nil) {
        self.plan = plan
        self.columns = columns
        self.withTail = withTail
        self.temperature = temperature
        self.rule = rule
        self.weights = weights
        width = plan.rowsPerSample * columns
        cached = plan.teacherEpochs < plan.epochs
        if cached, withTail, let keep, columns - 1 <= 256 {
            sparse = SparseRows(rows: plan.sampleCount * plan.rowsPerSample, slots: min(keep, columns - 1), classes: columns - 1)
        }
        perSample = cached && sparse == nil ? [Float](repeating: 0, count: plan.sampleCount * width) : []
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
        let rows = outputs[0].count / columns
        var target = Ensemble.combine(outputs.map { Tensor(shape: [rows, columns], scalars: $0) }, temperature: temperature, rule: rule, weights: weights).scalars
        if withTail { SoftTargetStore.keepCommonClasses(&target, outputs: outputs, rows: rows, columns: columns) }
        if cached {
            let order = epochOrder()
            for (row, position) in plan.positions(shard: item.shard).enumerated() {
                let sample = order[position]
                if sparse != nil {
                    for r in 0..<plan.rowsPerSample {
                        sparse!.store(target[((row * plan.rowsPerSample + r) * columns)...].prefix(columns), at: sample * plan.rowsPerSample + r)
                    }
                } else {
                    perSample.replaceSubrange((sample * width)..<((sample + 1) * width), with: target[(row * width)..<((row + 1) * width)])
                }
                perSampleReady[sample] = true
            }
        } else {
            combined[key] = target
        }
        return true
    }

    /// Top-k members' mean, made exact: a class only some members sent has an unknown share from the rest (it is in
    /// their tails), so it joins the tail with the mass it has; the classes every member sent keep theirs. The
    /// tail is then exactly the mixture's mass outside those classes.
    static func keepCommonClasses(_ target: inout [Float], outputs: [[Float]], rows: Int, columns: Int) {
        let classes = columns - 1
        for r in 0..<rows {
            let base = r * columns
            for c in 0..<classes where target[base + c] > 0 && outputs.contains(where: { $0[base + c] == 0 }) {
                target[base + classes] += target[base + c]
                target[base + c] = 0
            }
        }
    }

    /// The ensemble targets for positions of an epoch (rows in position order, `rowsPerSample` per position), or nil
    /// while some are missing.
    public func targets(epoch: Int, positions: Range<Int>, order: [Int]) -> Tensor? {
        var out = Tensor(zeros: [positions.count * plan.rowsPerSample, columns])
        for (row, position) in positions.enumerated() {
            let source: ArraySlice<Float>
            if cached {
                let sample = order[position]
                guard perSampleReady[sample] else { return nil }
                if let sparse {
                    for r in 0..<plan.rowsPerSample {
                        sparse.load(sample * plan.rowsPerSample + r, into: &out.scalars, at: (row * plan.rowsPerSample + r) * columns)
                    }
                    continue
                }
                source = perSample[(sample * width)..<((sample + 1) * width)]
            } else {
                let shard = position / plan.shardSize
                guard let rows = combined[ShardKey(epoch: epoch, shard: shard)] else { return nil }
                let r = position - shard * plan.shardSize
                source = rows[(r * width)..<((r + 1) * width)]
            }
            out.scalars.replaceSubrange((row * width)..<((row + 1) * width), with: source)
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

/// Rows of top-k targets (classes with a probability, zeros elsewhere, the tail last) kept as their non-zero classes:
/// `slots` (class, probability) pairs a row, unused slots at probability 0, and the tail. Loading writes back exactly
/// the row that was stored, so an epoch replayed from the cache trains as the first did.
struct SparseRows {
    let slots: Int, classes: Int
    private var indices: [UInt8]
    private var values: [Float]
    private var tails: [Float]

    init(rows: Int, slots: Int, classes: Int) {
        self.slots = slots
        self.classes = classes
        indices = [UInt8](repeating: 0, count: rows * slots)
        values = [Float](repeating: 0, count: rows * slots)
        tails = [Float](repeating: 0, count: rows)
    }

    /// `row`: classes + 1 values with at most `slots` non-zero classes.
    mutating func store(_ row: ArraySlice<Float>, at index: Int) {
        var slot = index * slots
        let end = slot + slots
        for (c, p) in row.prefix(classes).enumerated() where p != 0 {
            precondition(slot < end, "a top-k row with more than \(slots) classes")
            indices[slot] = UInt8(c)
            values[slot] = p
            slot += 1
        }
        for i in slot..<end { indices[i] = 0; values[i] = 0 }
        tails[index] = row[row.startIndex + classes]
    }

    /// Writes row `index` as classes + 1 values at `offset` of `out` (which holds zeros there).
    func load(_ index: Int, into out: inout [Float], at offset: Int) {
        for slot in (index * slots)..<((index + 1) * slots) where values[slot] != 0 { out[offset + Int(indices[slot])] = values[slot] }
        out[offset + classes] = tails[index]
    }
}
