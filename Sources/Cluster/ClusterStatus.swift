/// What `distillery status` shows: the coordinator's answer to a StatusRequest, as JSON.
public struct ClusterStatus: Codable, Sendable {
    public struct Worker: Codable, Sendable {
        public var id: String
        public var role: String
        public var name: String
        public var members: [String]
        public var leaseRemainingMs: Int
        public var itemsDone: Int
        public var inFlight: Int
        public var replica: Int?
        public var epoch: Int?
        public var samplesDone: Int?
        public var loss: Double?
        public var samplesPerSecond: Double?
        enum CodingKeys: String, CodingKey {
            case id, role, name, members, replica, epoch, loss
            case leaseRemainingMs = "lease_remaining_ms", itemsDone = "items_done", inFlight = "in_flight"
            case samplesDone = "samples_done", samplesPerSecond = "samples_per_second"
        }
    }

    public var job: String
    /// running, complete, or "failed: REASON".
    public var state: String
    public var epochs: Int
    public var itemsTotal: Int
    public var itemsDone: Int
    public var itemsHeld: Int
    public var duplicateReceipts: Int
    /// Fraction of the students' training done, 0...1.
    public var progress: Double
    public var samplesPerSecond: Double?
    public var etaSeconds: Double?
    public var uptimeSeconds: Double
    public var workers: [Worker]
    public var epochResults: [CoordinatorState.EpochRecord]

    enum CodingKeys: String, CodingKey {
        case job, state, epochs, progress, workers
        case itemsTotal = "items_total", itemsDone = "items_done", itemsHeld = "items_held"
        case duplicateReceipts = "duplicate_receipts", samplesPerSecond = "samples_per_second"
        case etaSeconds = "eta_seconds", uptimeSeconds = "uptime_seconds", epochResults = "epoch_results"
    }
}
