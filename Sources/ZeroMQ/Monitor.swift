import CZeroMQ

/// A connection event from libzmq's socket monitor.
public struct MonitorEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case connected, connectDelayed, connectRetried, listening, bindFailed, accepted, acceptFailed
        case closed, closeFailed, disconnected, monitorStopped
        case handshakeFailedNoDetail, handshakeSucceeded, handshakeFailedProtocol, handshakeFailedAuth
        case other(UInt16)
    }

    public var kind: Kind
    public var value: UInt32
    public var address: String

    static func kind(_ code: UInt16) -> Kind {
        switch Int32(code) {
        case ZMQ_EVENT_CONNECTED: return .connected
        case ZMQ_EVENT_CONNECT_DELAYED: return .connectDelayed
        case ZMQ_EVENT_CONNECT_RETRIED: return .connectRetried
        case ZMQ_EVENT_LISTENING: return .listening
        case ZMQ_EVENT_BIND_FAILED: return .bindFailed
        case ZMQ_EVENT_ACCEPTED: return .accepted
        case ZMQ_EVENT_ACCEPT_FAILED: return .acceptFailed
        case ZMQ_EVENT_CLOSED: return .closed
        case ZMQ_EVENT_CLOSE_FAILED: return .closeFailed
        case ZMQ_EVENT_DISCONNECTED: return .disconnected
        case ZMQ_EVENT_MONITOR_STOPPED: return .monitorStopped
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return .handshakeFailedNoDetail
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return .handshakeSucceeded
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return .handshakeFailedProtocol
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return .handshakeFailedAuth
        default: return .other(code)
        }
    }
}

/// Watches one socket's connection events through an inproc PAIR socket (owned by the caller's thread).
public final class Monitor {
    private let pair: Socket

    /// Starts monitoring `socket`; call on the thread that owns `socket`, before handing it elsewhere.
    public init(_ socket: Socket, context: Context, name: String) throws {
        let endpoint = "inproc://monitor-\(name)"
        try check(zmq_socket_monitor(socket.handle, endpoint, ZMQ_EVENT_ALL), "zmq_socket_monitor")
        pair = try Socket(context, .pair)
        try pair.connect(endpoint)
    }

    /// The next event, or nil after `timeout` milliseconds.
    public func next(timeout: Int32) throws -> MonitorEvent? {
        try pair.set(.receiveTimeout(timeout))
        guard let frames = try pair.receive(), frames.count == 2, frames[0].count == 6 else { return nil }
        let header = frames[0].bytes
        let code = UInt16(header[0]) | UInt16(header[1]) << 8
        let value = header[2...5].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        return MonitorEvent(kind: MonitorEvent.kind(code), value: value, address: frames[1].text)
    }

    /// Waits up to `timeout` ms for an event of one of `kinds`.
    public func waitFor(_ kinds: [MonitorEvent.Kind], timeout: Int32) throws -> MonitorEvent? {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout) * 1_000_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            let left = Int32((deadline - DispatchTime.now().uptimeNanoseconds) / 1_000_000) + 1
            if let e = try next(timeout: left), kinds.contains(e.kind) { return e }
        }
        return nil
    }
}

import Dispatch
