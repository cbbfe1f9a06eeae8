import Foundation
import Synchronization
import Wire

/// What the coordinator's core needs of its socket: messages in (routing id first), messages out. ZeroMQ's
/// ROUTER socket in a daemon (`ZeroMQRouter`); a pair of queues in the core tests (`InMemoryRouter`).
public protocol RouterTransport: AnyObject {
    /// Where workers reach it.
    var endpoint: String { get }
    /// Waits up to `timeoutMilliseconds` for a message; true when one is there.
    func waitForMessages(timeoutMilliseconds: Int) throws -> Bool
    /// The next message, routing id first; nil when none is waiting.
    func receive() throws -> [ReceivedFrame]?
    /// Sends a message whose first frame is the routing id; never blocks (a full peer queue drops it).
    func send(_ frames: [OutgoingFrame]) throws
}

/// The coordinator's ROUTER socket, bound and secured as the job says.
public final class ZeroMQRouter: RouterTransport {
    private let socket: Socket
    public let endpoint: String

    public init(context: Context, bind: String, security: ClusterSecurity) throws {
        socket = try Socket(context, .router)
        try socket.set(.linger(1000))
        try socket.set(.maxMessageSize(Int64(WireLimits.standard.maximumHeaderBytes)))
        // A worker that reconnects under its old identity (after a partition) takes over its route.
        try socket.set(.routerHandover(true))
        try security.secureServer(socket, context: context, admitting: [.teacher, .student, .operator])
        try socket.bind(bind)
        endpoint = socket.lastEndpoint
    }

    public func waitForMessages(timeoutMilliseconds: Int) throws -> Bool {
        try Poller.readable([socket], timeoutMilliseconds: timeoutMilliseconds)[0]
    }

    public func receive() throws -> [ReceivedFrame]? { try socket.receive(dontWait: true) }

    public func send(_ frames: [OutgoingFrame]) throws { _ = try socket.send(frames, dontWait: true) }
}

/// A router made of two queues: tests hand the coordinator's core messages from named peers and read what it
/// sent back, with no socket, no thread and no waiting.
public final class InMemoryRouter: RouterTransport, @unchecked Sendable {  // every access to the queues goes through `lock`
    public let endpoint: String
    private let lock = NSLock()
    private var inboundMessages: [[[UInt8]]] = []
    private var outbound: [(peer: [UInt8], frames: [[UInt8]])] = []

    public init(endpoint: String = "inproc://coordinator") { self.endpoint = endpoint }

    /// Queues `message` as if `peer` had sent it.
    public func deliver(_ message: WireMessage, from peer: String) {
        let frames = message.frames().map(\.bytes)
        lock.withLock { inboundMessages.append([Array(peer.utf8)] + frames) }
    }

    /// Queues raw frames from `peer` (a malformed message, say).
    public func deliver(frames: [[UInt8]], from peer: String) {
        lock.withLock { inboundMessages.append([Array(peer.utf8)] + frames) }
    }

    /// What the coordinator sent since the last call, each decoded, with its peer's name.
    public func takeSent() throws -> [(peer: String, message: ReceivedMessage)] {
        let sent = lock.withLock { () -> [(peer: [UInt8], frames: [[UInt8]])] in
            defer { outbound.removeAll() }
            return outbound
        }
        return try sent.map { (String(decoding: $0.peer, as: UTF8.self), try ReceivedMessage.parse($0.frames.map(ReceivedFrame.init(copying:)))) }
    }

    public func waitForMessages(timeoutMilliseconds: Int) throws -> Bool {
        lock.withLock { !inboundMessages.isEmpty }
    }

    public func receive() throws -> [ReceivedFrame]? {
        lock.withLock { inboundMessages.isEmpty ? nil : inboundMessages.removeFirst() }.map { $0.map(ReceivedFrame.init(copying:)) }
    }

    public func send(_ frames: [OutgoingFrame]) throws {
        let bytes = frames.map(\.bytes)
        lock.withLock { outbound.append((bytes[0], Array(bytes.dropFirst()))) }
    }
}
