import CZeroMQ

/// Waits on several sockets at once (zmq_poll): the single-threaded daemon loops use it so that one
/// thread serves the control channel, the data plane and its timers.
public enum Poller {
    /// Which of `sockets` have a message waiting, after at most `timeoutMilliseconds` (-1: forever).
    public static func readable(_ sockets: [Socket], timeoutMilliseconds: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let n = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if n == -1 {
            let error = zmq_errno()
            // A signal (SIGTERM) interrupts the wait; the caller checks its stop flag and polls again.
            if error == EINTR { return Array(repeating: false, count: sockets.count) }
            throw ZMQError("zmq_poll", errno: error)
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
