/// Why a received message was refused. The codes are those of the wire's `Error` message, so a daemon
/// can answer the sender in kind.
public struct WireError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: UInt32, Sendable {
        case malformed = 1, unsupportedVersion = 2, unknownKind = 3, invalidTensor = 4, checksum = 5
        case unauthorized = 6, modelMismatch = 7, internalError = 8
        /// The coordinator does not know the worker (it restarted): say hello again.
        case unknownWorker = 9
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
