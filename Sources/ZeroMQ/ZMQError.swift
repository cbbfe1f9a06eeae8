import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A failed libzmq call: what we tried, errno and libzmq's words for it.
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32 = zmq_errno()) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: zmq_strerror(errno)))" }

    /// The context was shut down under a blocked call.
    public var isTerminated: Bool { errno == ETERM }
}

/// Throws a ZMQError when a libzmq call returned -1.
@discardableResult
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if result == -1 { throw ZMQError(operation()) }
    return result
}
