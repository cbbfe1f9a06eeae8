import CZeroMQ
import Foundation
import Synchronization

/// A socket owned by a thread of its own, behind an async API. libzmq sockets are not thread-safe and
/// blocking calls on the cooperative pool starve every other task, so one thread runs zmq_poll over the
/// socket and an eventfd: `send` queues and signals the eventfd (safe from any thread), received messages
/// arrive on `messages`. An eventfd rather than an inproc wake socket because the senders are arbitrary
/// threads, and a socket written from several threads would need a lock around every send anyway.
public final class AsyncSocket: Sendable {
    public let messages: AsyncStream<[ReceivedFrame]>
    /// The resolved endpoint after a bind in `setup` (e.g. the port chosen for "tcp://127.0.0.1:*").
    public let lastEndpoint: String
    private let core: Core

    /// Creates the socket, runs `setup` (options, bind, connect) here, then hands the socket to its thread.
    public init(_ context: Context, _ type: SocketType, setup: (Socket) throws -> Void) throws {
        let socket = try Socket(context, type)
        try setup(socket)
        lastEndpoint = socket.lastEndpoint
        let wakeFD = czmq_wakeup_fd()
        guard wakeFD >= 0 else { throw ZMQError("eventfd", errno: errno) }
        var continuation: AsyncStream<[ReceivedFrame]>.Continuation!
        messages = AsyncStream(bufferingPolicy: .unbounded) { continuation = $0 }
        let core = Core(wakeFD: wakeFD)
        self.core = core
        let owned = UncheckedBox((socket, continuation!))
        let thread = Thread { core.run(owned.value.0, owned.value.1) }
        thread.name = "zmq-\(type)"
        thread.start()
    }

    /// Queues a multipart message for sending; never blocks. Messages still queued at `close` are dropped.
    public func send(_ frames: [OutgoingFrame]) { core.enqueue(frames) }

    /// Messages the owner thread failed to send (e.g. EHOSTUNREACH on a mandatory ROUTER).
    public var sendErrors: Int { core.outbox.withLock { $0.sendErrors } }

    /// Stops the thread and closes the socket; returns once it is closed. Safe to call more than once.
    public func close() { core.close() }

    deinit { core.close() }

    private final class Core: Sendable {
        struct Outbox {
            var queued: [[OutgoingFrame]] = []
            var closing = false
            var sendErrors = 0
        }

        let outbox = Mutex(Outbox())
        let stopped = Mutex(false)
        let wakeFD: Int32

        init(wakeFD: Int32) { self.wakeFD = wakeFD }

        deinit { Glibc.close(wakeFD) }

        func enqueue(_ frames: [OutgoingFrame]) {
            outbox.withLock { $0.queued.append(frames) }
            czmq_wakeup_signal(wakeFD)
        }

        func close() {
            outbox.withLock { $0.closing = true }
            czmq_wakeup_signal(wakeFD)
            while !stopped.withLock({ $0 }) { usleep(500) }
        }

        func run(_ socket: Socket, _ continuation: AsyncStream<[ReceivedFrame]>.Continuation) {
            var pending: [[OutgoingFrame]] = []
            var items = [
                zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
                zmq_pollitem_t(socket: nil, fd: wakeFD, events: Int16(ZMQ_POLLIN), revents: 0),
            ]
            loop: while true {
                items[0].events = Int16(ZMQ_POLLIN) | (pending.isEmpty ? 0 : Int16(ZMQ_POLLOUT))
                if zmq_poll(&items, 2, -1) == -1 && zmq_errno() == ETERM { break }
                if items[1].revents != 0 { czmq_wakeup_drain(wakeFD) }
                let (fresh, closing) = outbox.withLock { box -> ([[OutgoingFrame]], Bool) in
                    defer { box.queued.removeAll() }
                    return (box.queued, box.closing)
                }
                if closing { break loop }
                pending += fresh
                var sent = 0
                while sent < pending.count {
                    do {
                        guard try socket.send(pending[sent], dontWait: true) else { break }
                    } catch let error as ZMQError where error.isTerminated {
                        break loop
                    } catch {
                        outbox.withLock { $0.sendErrors += 1 }
                    }
                    sent += 1
                }
                pending.removeFirst(sent)
                while let message = try? socket.receive(dontWait: true) { continuation.yield(message) }
            }
            socket.close()
            continuation.finish()
            stopped.withLock { $0 = true }
        }
    }
}
