import CZeroMQ

/// A libzmq context: its I/O threads and the sockets made from it. libzmq contexts are thread-safe.
public final class Context: @unchecked Sendable {  // only thread-safe libzmq calls are made on `handle`
    let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int = 1) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads))
        // A process-wide default: ZMQ_BLOCKY off makes sockets default to linger 0 on close.
        zmq_ctx_set(handle, ZMQ_BLOCKY, 0)
    }

    /// Makes blocked calls on every socket return ETERM; sockets must still be closed.
    public func shutdown() { zmq_ctx_shutdown(handle) }

    deinit { zmq_ctx_term(handle) }

    /// libzmq's version, e.g. "4.3.4", and whether it was built with CURVE.
    public static var version: String {
        let v = Int(czmq_version())
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }

    public static var hasCurve: Bool { zmq_has("curve") == 1 }
}
