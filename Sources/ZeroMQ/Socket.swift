import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

public enum SocketType: Int32, Sendable {
    case pair = 0, pub = 1, sub = 2, req = 3, rep = 4, dealer = 5, router = 6, pull = 7, push = 8
}

/// One libzmq socket. Not thread-safe: it belongs to the thread that uses it (see `AsyncSocket` for a
/// socket owned by its own thread behind an async API).
public final class Socket {
    let handle: UnsafeMutableRawPointer
    public let type: SocketType
    private var closed = false
    /// Held so the context outlives its sockets: zmq_ctx_term waits for every socket to close.
    private let context: Context

    public init(_ context: Context, _ type: SocketType) throws {
        guard let h = zmq_socket(context.handle, type.rawValue) else { throw ZMQError("zmq_socket(\(type))") }
        handle = h
        self.type = type
        self.context = context
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    public func bind(_ endpoint: String) throws { try check(zmq_bind(handle, endpoint), "bind \(endpoint)") }
    public func connect(_ endpoint: String) throws { try check(zmq_connect(handle, endpoint), "connect \(endpoint)") }
    public func disconnect(_ endpoint: String) throws { try check(zmq_disconnect(handle, endpoint), "disconnect \(endpoint)") }

    /// The endpoint last bound, with the port resolved (bind "tcp://127.0.0.1:*" then read the port here).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        _ = zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(nulTerminated: buffer)
    }

    /// Sends a multipart message. Returns false if it would block and `dontWait` is set.
    @discardableResult
    public func send(_ frames: [OutgoingFrame], dontWait: Bool = false) throws -> Bool {
        precondition(!frames.isEmpty, "a message has at least one frame")
        var messages: [zmq_msg_t] = []
        messages.reserveCapacity(frames.count)
        defer { for i in messages.indices { zmq_msg_close(&messages[i]) } }
        for f in frames { messages.append(try .borrowing(f.payload)) }
        for i in messages.indices {
            var flags: Int32 = i < messages.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            if zmq_msg_send(&messages[i], handle, flags) == -1 {
                let error = zmq_errno()
                // A multipart message is atomic: libzmq queues nothing until the last frame, so a
                // would-block on the first frame drops nothing.
                if error == EAGAIN && i == 0 { return false }
                throw ZMQError("send frame \(i + 1) of \(messages.count)", errno: error)
            }
        }
        return true
    }

    /// Receives a whole multipart message; nil when none is waiting and `dontWait` is set (or on timeout).
    public func receive(dontWait: Bool = false) throws -> [ReceivedFrame]? {
        var frames: [ReceivedFrame] = []
        repeat {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            if zmq_msg_recv(&msg, handle, dontWait && frames.isEmpty ? ZMQ_DONTWAIT : 0) == -1 {
                let error = zmq_errno()
                zmq_msg_close(&msg)
                if error == EAGAIN && frames.isEmpty { return nil }
                throw ZMQError("receive", errno: error)
            }
            frames.append(ReceivedFrame(taking: msg))
        } while hasMore
        return frames
    }

    private var hasMore: Bool {
        var more: Int32 = 0
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(handle, ZMQ_RCVMORE, &more, &size)
        return more != 0
    }

    /// Events pending on the socket right now (ZMQ_POLLIN / ZMQ_POLLOUT bits).
    public var events: Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(handle, ZMQ_EVENTS, &value, &size)
        return value
    }
}
