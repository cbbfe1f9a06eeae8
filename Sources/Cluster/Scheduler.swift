/// Which work items are open, held and finished. Pure bookkeeping: the coordinator persists
/// completions and tells this what happened; this decides what to hand out next (lowest id first, which is
/// timeline order, so students get their shards in the order they train on them).
public struct Scheduler: Sendable {
    public let plan: WorkPlan
    public private(set) var done: Set<UInt64> = []
    /// Items a worker holds (assigned, or computed and on their way to the students), by worker.
    public private(set) var owner: [UInt64: String] = [:]
    /// When a teacher reported an item sent; receipts from every student should follow soon.
    private var deliveredAt: [UInt64: Double] = [:]
    /// No item below this id is open.
    private var firstOpen: UInt64 = 0

    public init(plan: WorkPlan, done: Set<UInt64> = []) {
        self.plan = plan
        self.done = done
        advanceFirstOpen()
    }

    public var isComplete: Bool { done.count == plan.itemCount }
    public var heldCount: Int { owner.count }

    /// The next open item a worker serving `members` may take, starting before `timelineLimit`.
    public func next(members: Set<Int>, timelineLimit: Int) -> UInt64? {
        var id = firstOpen
        while id < UInt64(plan.itemCount) {
            let item = plan.item(id)!
            if plan.timelineStart(item) >= timelineLimit { return nil }
            if !done.contains(id) && owner[id] == nil && members.contains(item.member) { return id }
            id += 1
        }
        return nil
    }

    public mutating func assign(_ id: UInt64, to worker: String) {
        owner[id] = worker
        deliveredAt[id] = nil
    }

    public mutating func delivered(_ id: UInt64, at time: Double) {
        guard owner[id] != nil, !done.contains(id) else { return }
        deliveredAt[id] = time
    }

    /// Marks an item finished (every student has it); returns false if it already was.
    @discardableResult
    public mutating func complete(_ id: UInt64) -> Bool {
        owner[id] = nil
        deliveredAt[id] = nil
        guard done.insert(id).inserted else { return false }
        advanceFirstOpen()
        return true
    }

    /// Puts a worker's unfinished items back in the queue; returns them.
    public mutating func release(worker: String) -> [UInt64] {
        let ids = owner.filter { $0.value == worker }.map(\.key).sorted()
        release(ids)
        return ids
    }

    public mutating func release(_ ids: [UInt64]) {
        for id in ids where !done.contains(id) {
            owner[id] = nil
            deliveredAt[id] = nil
            firstOpen = min(firstOpen, id)
        }
    }

    /// Items reported sent before `time` whose receipts never all came (a message lost with a dying
    /// peer): back to the queue.
    public mutating func releaseUnconfirmed(sentBefore time: Double) -> [UInt64] {
        let ids = deliveredAt.filter { $0.value < time }.map(\.key).sorted()
        release(ids)
        return ids
    }

    private mutating func advanceFirstOpen() {
        while firstOpen < UInt64(plan.itemCount) && done.contains(firstOpen) { firstOpen += 1 }
    }
}
