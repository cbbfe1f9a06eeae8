import Foundation
import Wire

/// Simulated workers speaking the real protocol to a coordinator, for the load benchmark: teachers that hold each
/// assignment for `workSeconds` (the time a real teacher computes), then report it done and ask for the next, and one
/// student that acknowledges every item and reports its progress, all on one thread. Measures the time from each
/// work request to the assignment answering it.
public final class LoadSimulation {
    public struct Result: Sendable {
        /// Seconds from a teacher's work request to its assignment.
        public var latencies: [Double]
        public var seconds: Double
        public var errors: Int
        public var teachersWelcomed: Int
    }

    public struct Member: Sendable {
        public var name: String, sha256: String
        public init(name: String, sha256: String) { self.name = name; self.sha256 = sha256 }
    }

    private let context: Context
    private let teachers: [ControlChannel]
    private let student: ControlChannel
    private let member: Member
    private let shardSize: Int, sampleCount: Int

    public init(coordinator: String, teachers count: Int, member: Member, shardSize: Int, sampleCount: Int) throws {
        let security = try ClusterSecurity(keysDirectory: nil, keyName: nil)
        let log = DaemonLog("load")
        let context = Context()
        self.context = context
        teachers = try (0..<count).map {
            try ControlChannel(coordinator: coordinator, name: "load-teacher-\($0)", security: security, context: context,
                               coordinatorTimeout: 60, log: log)
        }
        student = try ControlChannel(coordinator: coordinator, name: "load-student", security: security, context: context,
                                     coordinatorTimeout: 60, log: log)
        self.member = member
        self.shardSize = shardSize
        self.sampleCount = sampleCount
    }

    /// Joins every simulated worker, then turns work for `seconds`.
    public func run(seconds: Double, workSeconds: Double) throws -> Result {
        _ = try student.handshake(Hello(role: .student, dataEndpoint: "tcp://127.0.0.1:9"), timeout: 30, shouldStop: { false })
        let hello = Hello(role: .teacher, models: [ModelHash(member: member.name, sha256: member.sha256)])
        for t in teachers { try t.send(.hello(hello)) }
        var requested = [Double?](repeating: nil, count: teachers.count)
        var latencies: [Double] = []
        var errors = 0, receipts = 0
        // Items being "computed": (when done, teacher, item), in the order they finish.
        var working: [(due: Double, teacher: Int, workID: UInt64)] = []
        let sockets = teachers.compactMap(\.socket)
        var started: Double?
        let joinDeadline = monotonicSeconds() + 60
        while true {
            let now = monotonicSeconds()
            if let started, now - started >= seconds { break }
            if started == nil && now > joinDeadline { break }
            while let first = working.first, first.due <= monotonicSeconds() {
                working.removeFirst()
                let teacher = teachers[first.teacher]
                try teacher.send(.workDone(workID: first.workID, samples: UInt32(shardSize)))
                // The student acknowledges what the teacher would have sent it.
                try student.send(.workDone(workID: first.workID, samples: UInt32(shardSize)))
                receipts += 1
                if receipts % 20 == 0 {
                    let position = receipts * shardSize
                    try student.send(.progress(Progress(epoch: UInt32(position / sampleCount), samplesDone: UInt64(position % sampleCount),
                                                        samplesTotal: UInt64(sampleCount))))
                }
                try teacher.send(.workRequest(credits: 1))
                requested[first.teacher] = monotonicSeconds()
            }
            let wait = working.first.map { max(0, Int(($0.due - monotonicSeconds()) * 1000)) } ?? 5
            let readable = try Poller.readable(sockets, timeoutMilliseconds: min(wait, 5))
            for (i, teacher) in teachers.enumerated() where readable[i] {
                while let message = try teacher.receive() {
                    switch message.envelope.kind {
                    case let .welcome(w):
                        teacher.jobID = message.envelope.jobID
                        teacher.heartbeatInterval = Double(w.heartbeatIntervalMilliseconds) / 1000
                        try teacher.send(.workRequest(credits: 1))
                        requested[i] = monotonicSeconds()
                    case let .workAssignment(a):
                        let at = monotonicSeconds()
                        if let asked = requested[i], started != nil { latencies.append(at - asked) }
                        working.append((at + workSeconds, i, a.workID))
                    case .error:
                        errors += 1
                    default:
                        break
                    }
                }
            }
            for (i, teacher) in teachers.enumerated() where requested[i] != nil { try teacher.heartbeatIfDue(Heartbeat()) }
            while try student.receive() != nil {}
            try student.heartbeatIfDue(Heartbeat())
            // Time starts once every teacher has joined.
            if started == nil && requested.allSatisfy({ $0 != nil }) { started = monotonicSeconds() }
        }
        return Result(latencies: latencies, seconds: started.map { monotonicSeconds() - $0 } ?? 0, errors: errors,
                      teachersWelcomed: requested.filter { $0 != nil }.count)
    }
}
