import Foundation
import Wire

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The job was over before this worker joined it: the coordinator's goodbye (a late teacher, say).
public struct JobAlreadyEnded: Error, CustomStringConvertible {
    public let goodbye: Goodbye
    public var description: String { "the coordinator said goodbye: \(goodbye.reason.escapedForLog)" }
}

/// A worker's DEALER connection to the coordinator: hello and welcome, heartbeats on schedule (also while the
/// worker is busy loading), and every received message validated (a bad one is counted and dropped, never acted on).
public final class ControlChannel {
    public let context: Context
    public let name: String
    let transport: DealerTransport
    /// The socket, to poll beside others (nil on an in-memory transport).
    var socket: Socket? { transport.socket }
    private let coordinator: String
    private let log: DaemonLog
    let refusals: RefusalLog
    public var jobID = "-"
    public var heartbeatInterval = 0.5
    /// Silence from the coordinator longer than this ends the worker.
    public var coordinatorTimeout: Double
    private var lastHeartbeat = 0.0
    /// Where this channel counts its bytes and messages, when the daemon keeps metrics.
    var wire: WireMetrics?
    public private(set) var lastHeard = monotonicSeconds()
    /// Messages that arrived while the worker was busy (`keepAlive`), handed out first by `receive`.
    private var pending: [ReceivedMessage] = []

    public convenience init(coordinator: String, name: String, security: ClusterSecurity, context: Context,
                            coordinatorTimeout: Double, log: DaemonLog) throws {
        try self.init(transport: ZeroMQDealer(context: context, coordinator: coordinator, name: name, security: security),
                      coordinator: coordinator, name: name, context: context, coordinatorTimeout: coordinatorTimeout, log: log)
    }

    /// The channel over any transport (an in-memory one in the core tests); `coordinator` names it in messages.
    public init(transport: DealerTransport, coordinator: String, name: String, context: Context, coordinatorTimeout: Double, log: DaemonLog) {
        self.transport = transport
        self.context = context
        self.name = name
        self.coordinator = coordinator
        self.coordinatorTimeout = coordinatorTimeout
        self.log = log
        refusals = RefusalLog(log)
    }

    /// Waits up to `timeoutMilliseconds` for a message from the coordinator.
    public func waitForMessages(timeoutMilliseconds: Int) throws -> Bool {
        if !pending.isEmpty { return true }
        return try transport.waitForMessages(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Never blocks: with the coordinator unreachable (no connection, or a full queue) the message is
    /// dropped and logged; the protocol repeats what matters (hello, heartbeats, receipts on redelivery).
    public func send(_ kind: MessageKind) throws {
        let frames = WireMessage(Envelope(jobID: jobID, sender: name, kind: kind)).frames()
        wire?.sent(frames)
        if try !transport.send(frames) {
            refusals.refused("a message to an unreachable coordinator", "the coordinator at \(coordinator) is not taking messages; one was dropped")
        }
    }

    /// The next valid message, if one is waiting.
    public func receive() throws -> ReceivedMessage? {
        if !pending.isEmpty { return pending.removeFirst() }
        return try receiveFromSocket()
    }

    private func receiveFromSocket() throws -> ReceivedMessage? {
        while let frames = try transport.receive() {
            let bytes = frames.byteCount
            do {
                let message = try ReceivedMessage.parse(frames)
                lastHeard = monotonicSeconds()
                wire?.received(bytes: bytes, accepted: true)
                return message
            } catch {
                wire?.received(bytes: bytes, accepted: false)
                refusals.refused("a bad message on the control channel", "\(error)".escapedForLog)
            }
        }
        return nil
    }

    /// True when a heartbeat went out.
    @discardableResult
    public func heartbeatIfDue(_ heartbeat: @autoclosure () -> Heartbeat) throws -> Bool {
        let now = monotonicSeconds()
        guard now - lastHeartbeat >= heartbeatInterval else { return false }
        lastHeartbeat = now
        try send(.heartbeat(heartbeat()))
        refusals.flush(now: now)
        if now - lastHeard > coordinatorTimeout {
            throw ClusterError("the coordinator at \(coordinator) has been silent for \(Int(coordinatorTimeout)) s")
        }
        return true
    }

    /// Counts from now the silence that ends the worker (the coordinator said it stops and will be back).
    public func restartSilenceClock() { lastHeard = monotonicSeconds() }

    /// Runs `work` (loading a data set or models, a teacher's batch, an evaluation: seconds with nothing to say to
    /// the coordinator) on this thread while a helper thread, holding the socket meanwhile, keeps the heartbeats
    /// going, so a short lease survives long compute. Messages that arrive meanwhile are kept for `receive`. `work`
    /// must not touch this channel. The compute stays on the caller's thread, with its OpenMP and oneDNN settings;
    /// work shorter than a poll never wakes the helper.
    public func keepAlive<T>(_ heartbeat: @autoclosure () -> Heartbeat, during work: () throws -> T) throws -> T {
        let finished = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        let failure = BackgroundOutcome<Void>()
        let beat = heartbeat()
        let channel = UncheckedSendable(self)
        // The semaphores hand the socket over and back (the full barrier ZeroMQ asks for when a socket changes thread).
        let helper = Thread {
            while finished.wait(timeout: .now() + 0.02) == .timedOut {
                guard failure.result == nil else { continue }
                do {
                    while let message = try channel.value.receiveFromSocket() { channel.value.pending.append(message) }
                    try channel.value.heartbeatIfDue(beat)
                } catch {
                    failure.finish(.failure(error))
                }
            }
            released.signal()
        }
        helper.start()
        let outcome = Result { try work() }
        finished.signal()
        released.wait()
        if case let .failure(error)? = failure.result { throw error }
        return try outcome.get()
    }

    /// Says hello and waits for the welcome, answering nothing else meanwhile.
    public func handshake(_ hello: Hello, timeout: Double, shouldStop: () -> Bool) throws -> Welcome {
        try send(.hello(hello))
        let deadline = monotonicSeconds() + timeout
        var resend = monotonicSeconds() + 1
        while monotonicSeconds() < deadline {
            if shouldStop() { throw ClusterError("stopped before the coordinator answered") }
            _ = try waitForMessages(timeoutMilliseconds: 100)
            while let message = try receive() {
                switch message.envelope.kind {
                case let .welcome(w):
                    jobID = message.envelope.jobID
                    heartbeatInterval = Double(w.heartbeatIntervalMilliseconds) / 1000
                    return w
                case let .error(code, text) where code != .unknownWorker:
                    throw ClusterError("the coordinator refused us (\(code)): \(text.escapedForLog)")
                case let .goodbye(g) where g.ending != .suspended:
                    throw JobAlreadyEnded(goodbye: g)
                default:
                    continue
                }
            }
            // A hello sent while the coordinator was restarting may be lost with its old connection.
            if monotonicSeconds() > resend {
                try send(.hello(hello))
                resend = monotonicSeconds() + 1
            }
        }
        throw ClusterError("no welcome from the coordinator at \(coordinator) within \(Int(timeout)) s (is it running? do --keys match the job?)")
    }
}

/// The result of work done on another thread, handed back under a lock.
final class BackgroundOutcome<T>: @unchecked Sendable {  // every access to `stored` goes through `lock`
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var stored: Result<T, Error>?
    func finish(_ result: Result<T, Error>) {
        lock.lock(); stored = result; lock.unlock()
        done.signal()
    }
    /// Waits up to `seconds`; true once the work has finished (and then at once on every later call).
    func wait(seconds: Double) -> Bool {
        if self.result != nil { return true }
        guard done.wait(timeout: .now() + seconds) == .success else { return false }
        done.signal()
        return true
    }
    var result: Result<T, Error>? { lock.lock(); defer { lock.unlock() }; return stored }
}

/// A value handed to exactly one other thread while its owner waits, so it is never touched by two threads at once.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
