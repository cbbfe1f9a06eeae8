import Foundation
import Wire

/// What a worker's control channel needs of its socket: messages in from the coordinator, messages out.
/// ZeroMQ's DEALER socket in a daemon (`ZeroMQDealer`); two queues in the core tests (`InMemoryDealer`).
public protocol DealerTransport: AnyObject {
    /// Waits up to `timeoutMilliseconds` for a message; true when one is there.
    func waitForMessages(timeoutMilliseconds: Int) throws -> Bool
    /// The next message's frames; nil when none is waiting.
    func receive() throws -> [ReceivedFrame]?
    /// Sends without blocking; false when the message was dropped (no connection, or a full queue).
    func send(_ frames: [OutgoingFrame]) throws -> Bool
    /// The socket, for polling it beside others (nil when the transport is not one).
    var socket: Socket? { get }
}

/// A worker's DEALER socket to the coordinator.
public final class ZeroMQDealer: DealerTransport {
    private let dealer: Socket
    public var socket: Socket? { dealer }

    public init(context: Context, coordinator: String, name: String, security: ClusterSecurity) throws {
        dealer = try Socket(context, .dealer)
        // A stable identity: after a partition the coordinator's ROUTER hands the route over to us.
        try dealer.set(.routingID("\(name)-\(UInt32.random(in: 0...UInt32.max))"))
        try dealer.set(.linger(2000))
        try dealer.set(.reconnectInterval(100, maximum: 2000))
        try dealer.set(.maxMessageSize(Int64(WireLimits.standard.maximumHeaderBytes)))
        try security.secureClient(dealer)
        try dealer.connect(coordinator)
    }

    public func waitForMessages(timeoutMilliseconds: Int) throws -> Bool {
        try Poller.readable([dealer], timeoutMilliseconds: timeoutMilliseconds)[0]
    }

    public func receive() throws -> [ReceivedFrame]? { try dealer.receive(dontWait: true) }

    public func send(_ frames: [OutgoingFrame]) throws -> Bool { try dealer.send(frames, dontWait: true) }
}

/// A worker's side of two queues: tests play the coordinator, queueing its messages and reading the worker's.
public final class InMemoryDealer: DealerTransport, @unchecked Sendable {  // every access to the queues goes through `lock`
    private let lock = NSLock()
    private var inbound: [[[UInt8]]] = []
    private var outbound: [[[UInt8]]] = []
    public var socket: Socket? { nil }

    public init() {}

    /// Queues `kind` as if the coordinator had sent it for `job`.
    public func deliver(_ kind: MessageKind, job: String) {
        let frames = WireMessage(Envelope(jobID: job, sender: "coordinator", kind: kind)).frames().map(\.bytes)
        lock.withLock { inbound.append(frames) }
    }

    /// What the worker sent since the last call, decoded.
    public func takeSent() throws -> [ReceivedMessage] {
        let sent = lock.withLock { () -> [[[UInt8]]] in
            defer { outbound.removeAll() }
            return outbound
        }
        return try sent.map { try ReceivedMessage.parse($0.map(ReceivedFrame.init(copying:))) }
    }

    public func waitForMessages(timeoutMilliseconds: Int) throws -> Bool { lock.withLock { !inbound.isEmpty } }

    public func receive() throws -> [ReceivedFrame]? {
        lock.withLock { inbound.isEmpty ? nil : inbound.removeFirst() }.map { $0.map(ReceivedFrame.init(copying:)) }
    }

    public func send(_ frames: [OutgoingFrame]) throws -> Bool {
        let bytes = frames.map(\.bytes)
        lock.withLock { outbound.append(bytes) }
        return true
    }
}

/// Where a teacher sends one student's soft targets: a PUSH socket to its data endpoint, or a list in the core tests.
public protocol PushTransport: AnyObject {
    /// Sends without blocking; false when the student is not taking messages (the message is dropped).
    func send(_ frames: [OutgoingFrame]) throws -> Bool
    func close()
}

/// A PUSH socket to a student's data endpoint.
public final class ZeroMQPush: PushTransport {
    private let socket: Socket

    public init(context: Context, endpoint: String, serverKey: String?, security: ClusterSecurity) throws {
        socket = try Socket(context, .push)
        // Queued soft targets still go out when we exit cleanly.
        try socket.set(.linger(5000))
        try socket.set(.sendHighWaterMark(10_000))
        try security.secureClient(socket, serverKey: serverKey)
        try socket.connect(endpoint)
    }

    public func send(_ frames: [OutgoingFrame]) throws -> Bool { try socket.send(frames, dontWait: true) }

    public func close() { socket.close() }
}

/// Every message a teacher pushed, by student endpoint, for the core tests.
public final class InMemoryPushes: @unchecked Sendable {  // every access to `sent` goes through `lock`
    private let lock = NSLock()
    private var sent: [String: [[[UInt8]]]] = [:]

    public init() {}

    /// A transport to `endpoint` that records here.
    public func outlet(to endpoint: String) -> PushTransport { Outlet(endpoint: endpoint, store: self) }

    /// What went to `endpoint`, decoded.
    public func messages(to endpoint: String) throws -> [ReceivedMessage] {
        try lock.withLock { sent[endpoint] ?? [] }.map { try ReceivedMessage.parse($0.map(ReceivedFrame.init(copying:))) }
    }

    private final class Outlet: PushTransport {
        let endpoint: String
        let store: InMemoryPushes
        init(endpoint: String, store: InMemoryPushes) { self.endpoint = endpoint; self.store = store }
        func send(_ frames: [OutgoingFrame]) throws -> Bool {
            let bytes = frames.map(\.bytes)
            store.lock.withLock { store.sent[endpoint, default: []].append(bytes) }
            return true
        }
        func close() {}
    }
}

/// A student's data endpoint: soft targets from teachers and gradients from peer replicas come in here.
public protocol DataInbox: AnyObject {
    /// Where teachers and peers reach it, as the coordinator hands it out.
    var endpoint: String { get }
    /// The next message's frames; nil when none is waiting.
    func receive() throws -> [ReceivedFrame]?
    /// Refuses messages larger than `bytes` from now on (once the job says how large its messages are).
    func limitMessages(toBytes bytes: Int) throws
    /// The socket, for polling it beside the control channel (nil when the inbox is not one).
    var socket: Socket? { get }
}

/// The data endpoint as a bound PULL socket.
public final class ZeroMQDataInbox: DataInbox {
    private let pull: Socket
    public let endpoint: String
    public var socket: Socket? { pull }

    /// Binds `bind`; `advertiseHost` replaces the bound address's host in `endpoint` (what peers can reach).
    public init(context: Context, bind: String, advertiseHost: String?, queuedMessagesPerPeer: Int32, largestMessage: Int,
                security: ClusterSecurity) throws {
        pull = try Socket(context, .pull)
        // What a peer may queue here: a few messages per connection (a teacher ahead of us waits in its own send
        // queue, and TCP holds the rest), each at most the job's largest message once the job is known.
        try pull.set(.receiveHighWaterMark(queuedMessagesPerPeer))
        try pull.set(.maxMessageSize(Int64(largestMessage)))
        try security.secureServer(pull, context: context, admitting: [.teacher, .student])
        try pull.bind(bind)
        var endpoint = pull.lastEndpoint
        if let host = advertiseHost, let port = endpoint.split(separator: ":").last {
            endpoint = "tcp://\(host):\(port)"
        }
        self.endpoint = endpoint
    }

    public func receive() throws -> [ReceivedFrame]? { try pull.receive(dontWait: true) }

    public func limitMessages(toBytes bytes: Int) throws { try pull.set(.maxMessageSize(Int64(bytes))) }
}

/// A data endpoint made of a queue, for the core tests: they deliver teachers' messages as if pushed.
public final class InMemoryDataInbox: DataInbox, @unchecked Sendable {  // every access to `inbound` goes through `lock`
    private let lock = NSLock()
    private var inbound: [[[UInt8]]] = []
    public let endpoint: String
    public var socket: Socket? { nil }
    public private(set) var messageLimit: Int?

    public init(endpoint: String = "tcp://student.test:7000") { self.endpoint = endpoint }

    public func deliver(_ message: WireMessage) {
        let frames = message.frames().map(\.bytes)
        lock.withLock { inbound.append(frames) }
    }

    public func receive() throws -> [ReceivedFrame]? {
        lock.withLock { inbound.isEmpty ? nil : inbound.removeFirst() }.map { $0.map(ReceivedFrame.init(copying:)) }
    }

    public func limitMessages(toBytes bytes: Int) throws { lock.withLock { messageLimit = bytes } }
}
