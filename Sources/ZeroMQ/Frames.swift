import CZeroMQ

/// A frame to send. `.bytes` goes out zero-copy: libzmq reads the array's storage in place and releases
/// it when done (a native array's storage does not move while it is alive and unmutated).
public enum OutgoingFrame: Sendable {
    case bytes([UInt8])
    case text(String)

    /// Bytes on the wire for this frame (before ZMTP framing).
    public var byteCount: Int {
        switch self {
        case let .bytes(b): return b.count
        case let .text(s): return s.utf8.count
        }
    }

    /// The frame's bytes, as they go out.
    public var bytes: [UInt8] { payload }

    var payload: [UInt8] {
        switch self {
        case let .bytes(b): return b
        case let .text(s): return Array(s.utf8)
        }
    }
}

/// Keeps a sent array alive until libzmq's release callback.
private final class SentStorage {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

extension zmq_msg_t {
    /// Initialises a message over `bytes` without copying them.
    static func borrowing(_ bytes: [UInt8]) throws -> zmq_msg_t {
        var msg = zmq_msg_t()
        if bytes.isEmpty {
            try check(zmq_msg_init(&msg), "zmq_msg_init")
            return msg
        }
        let storage = SentStorage(bytes)
        let base = storage.bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        let hint = Unmanaged.passRetained(storage).toOpaque()
        let rc = czmq_msg_init_borrowed(&msg, base, bytes.count, { _, hint in
            Unmanaged<SentStorage>.fromOpaque(hint!).release()
        }, hint)
        if rc != 0 {
            Unmanaged<SentStorage>.fromOpaque(hint).release()
            throw ZMQError("zmq_msg_init_data")
        }
        return msg
    }
}

/// A received frame, kept in libzmq's own buffer (no copy until asked).
public final class ReceivedFrame: @unchecked Sendable {  // immutable after receipt; zmq_msg_t is only read
    private var message: zmq_msg_t

    init(taking message: zmq_msg_t) { self.message = message }

    /// A frame holding a copy of `bytes`, as if received (no connection properties): for transports that are not
    /// sockets, such as the in-memory one the daemons' core tests use.
    public convenience init(copying bytes: [UInt8]) {
        var msg = zmq_msg_t()
        // zmq_msg_init_size fails only when memory runs out, which Swift itself does not survive either.
        precondition(zmq_msg_init_size(&msg, bytes.count) == 0, "zmq_msg_init_size: out of memory")
        if !bytes.isEmpty { bytes.withUnsafeBytes { zmq_msg_data(&msg).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
        self.init(taking: msg)
    }

    deinit { zmq_msg_close(&message) }

    public var count: Int { zmq_msg_size(&message) }

    /// The bytes in place. Not necessarily aligned: read numbers with unaligned loads.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let size = zmq_msg_size(&message)
        guard size > 0, let data = zmq_msg_data(&message) else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: data, count: size))
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// A metadata property of the connection the frame came over, e.g. "User-Id" (set by the ZAP handler)
    /// or "Peer-Address".
    public func property(_ name: String) -> String? {
        guard let value = zmq_msg_gets(&message, name) else { return nil }
        return String(cString: value)
    }
}

/// Bytes of a multipart message's frames together (before ZMTP framing), for wire metrics.
public extension Array where Element == OutgoingFrame {
    var byteCount: Int { reduce(0) { $0 + $1.byteCount } }
}

public extension Array where Element == ReceivedFrame {
    var byteCount: Int { reduce(0) { $0 + $1.count } }
}
