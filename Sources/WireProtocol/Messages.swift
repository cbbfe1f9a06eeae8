/// Swift values of the wire's messages (proto/distillery.proto). Fields the protocol requires are
/// non-optional: the decoder refuses a message without them.

public enum Role: UInt32, Sendable { case coordinator = 1, teacher = 2, student = 3 }

public struct ModelHash: Equatable, Sendable {
    public var member: String
    public var sha256: String
    public init(member: String, sha256: String) { self.member = member; self.sha256 = sha256 }
}

public struct Hello: Equatable, Sendable {
    public var role: Role
    public var models: [ModelHash] = []
    public var dataEndpoint: String?
    public var threads: UInt32?
    public init(role: Role, models: [ModelHash] = [], dataEndpoint: String? = nil, threads: UInt32? = nil) {
        self.role = role; self.models = models
        self.dataEndpoint = dataEndpoint; self.threads = threads
    }
}

public struct Welcome: Equatable, Sendable {
    public var workerID: String
    public var leaseMilliseconds: UInt32
    public var heartbeatIntervalMilliseconds: UInt32
    public var credits: UInt32
    public var jobYAML: String?
    public var jobDirectory: String?
    public var replica: UInt32?
    public var peers: [String]
    /// Students: the key that checks assignment tokens.
    public var assignmentKey: [UInt8]?
    /// Students, under CURVE: each replica's public key (Z85), by replica index.
    public var peerKeys: [String]
    public init(workerID: String, leaseMilliseconds: UInt32, heartbeatIntervalMilliseconds: UInt32, credits: UInt32,
                jobYAML: String? = nil, jobDirectory: String? = nil, replica: UInt32? = nil, peers: [String] = [],
                assignmentKey: [UInt8]? = nil, peerKeys: [String] = []) {
        self.workerID = workerID; self.leaseMilliseconds = leaseMilliseconds
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds; self.credits = credits
        self.jobYAML = jobYAML; self.jobDirectory = jobDirectory; self.replica = replica; self.peers = peers
        self.assignmentKey = assignmentKey; self.peerKeys = peerKeys
    }
}

public struct Heartbeat: Equatable, Sendable {
    public var leaseMilliseconds: UInt32 = 0
    public var queueDepth: UInt32 = 0
    public var inFlight: UInt32 = 0
    public init(leaseMilliseconds: UInt32 = 0, queueDepth: UInt32 = 0, inFlight: UInt32 = 0) {
        self.leaseMilliseconds = leaseMilliseconds; self.queueDepth = queueDepth; self.inFlight = inFlight
    }
}

/// Half-open sample index range [begin, end).
public struct ShardRange: Equatable, Sendable {
    public var begin: UInt64, end: UInt64
    public init(_ begin: UInt64, _ end: UInt64) { self.begin = begin; self.end = end }
}

public struct WorkAssignment: Equatable, Sendable {
    public var workID: UInt64
    public var epoch: UInt32
    public var shard: UInt32
    public var ranges: [ShardRange]
    public var member: String
    public var augmentationSeed: UInt64 = 0
    public var temperature: Float = 1
    public var destinations: [String] = []
    /// What the soft targets must carry back (an HMAC the students check).
    public var token: [UInt8] = []
    /// Under CURVE: each destination's public key (Z85).
    public var destinationKeys: [String] = []
    public init(workID: UInt64, epoch: UInt32, shard: UInt32, ranges: [ShardRange], member: String,
                augmentationSeed: UInt64 = 0, temperature: Float = 1, destinations: [String] = [],
                token: [UInt8] = [], destinationKeys: [String] = []) {
        self.workID = workID; self.epoch = epoch; self.shard = shard; self.ranges = ranges; self.member = member
        self.augmentationSeed = augmentationSeed; self.temperature = temperature; self.destinations = destinations
        self.token = token; self.destinationKeys = destinationKeys
    }
}

public struct SoftTargets: Equatable, Sendable {
    public var workID: UInt64
    public var epoch: UInt32
    public var shard: UInt32
    public var member: String
    public var temperature: Float
    public var probabilities: Bool
    public var ranges: [ShardRange]
    /// The assignment's token.
    public var token: [UInt8]
    public init(workID: UInt64, epoch: UInt32, shard: UInt32, member: String, temperature: Float,
                probabilities: Bool, ranges: [ShardRange], token: [UInt8] = []) {
        self.workID = workID; self.epoch = epoch; self.shard = shard; self.member = member
        self.temperature = temperature; self.probabilities = probabilities; self.ranges = ranges; self.token = token
    }
}

/// How a coordinator's goodbye leaves the job.
public enum JobEnding: UInt32, Sendable {
    /// Every item delivered, every student replica finished.
    case complete = 1
    /// The job cannot go on; workers exit with an error.
    case failed = 2
    /// The coordinator stops, the job stays resumable: workers wait for a coordinator on the same state.
    case suspended = 3
}

public struct Goodbye: Equatable, Sendable {
    public var reason: String
    /// Work the sender hands back unfinished.
    public var returnedWorkIDs: [UInt64]
    /// Set by a coordinator; nil from a worker that leaves.
    public var ending: JobEnding?
    public init(reason: String, returnedWorkIDs: [UInt64] = [], ending: JobEnding? = nil) {
        self.reason = reason; self.returnedWorkIDs = returnedWorkIDs; self.ending = ending
    }
}

public struct CheckpointAnnouncement: Equatable, Sendable {
    public var step: UInt64
    public var epoch: UInt32
    public var path: String
    public var sha256: String?
    public var isFinal: Bool
    public init(step: UInt64, epoch: UInt32, path: String, sha256: String? = nil, isFinal: Bool = false) {
        self.step = step; self.epoch = epoch; self.path = path; self.sha256 = sha256; self.isFinal = isFinal
    }
}

public struct Progress: Equatable, Sendable {
    public var epoch: UInt32 = 0
    public var samplesDone: UInt64 = 0
    public var samplesTotal: UInt64 = 0
    public var loss: Float?
    public var accuracy: Float?
    public var samplesPerSecond: Float?
    public init(epoch: UInt32 = 0, samplesDone: UInt64 = 0, samplesTotal: UInt64 = 0, loss: Float? = nil,
                accuracy: Float? = nil, samplesPerSecond: Float? = nil) {
        self.epoch = epoch; self.samplesDone = samplesDone; self.samplesTotal = samplesTotal
        self.loss = loss; self.accuracy = accuracy; self.samplesPerSecond = samplesPerSecond
    }
}

/// The kind of an envelope, with its body: the protocol's oneof.
public enum MessageKind: Equatable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case workRequest(credits: UInt32)
    case workAssignment(WorkAssignment)
    case workDone(workID: UInt64, samples: UInt32)
    case softTargets(SoftTargets)
    case gradients(step: UInt64, replica: UInt32, samples: UInt32)
    case parameters(step: UInt64, spec: String)
    case checkpoint(CheckpointAnnouncement)
    case progress(Progress)
    case error(code: WireError.Code, message: String)
    case goodbye(Goodbye)
    case statusRequest
    case statusReply(json: String)
}
