import Foundation

/// The proof that a coordinator assigned a work item to a worker: HMAC-SHA256 (RFC 2104) over the worker's
/// authenticated identity, the item and its member, keyed with a secret the coordinator shares only with the job's
/// students. A teacher returns the token with its soft targets; a student takes them only if the token matches the
/// sender it sees, so neither a stranger nor a registered teacher can deliver an item it was not given.
public struct AssignmentToken: Sendable {
    public let key: [UInt8]

    public init(key: [UInt8]) { self.key = key }

    /// A fresh random key (32 bytes).
    public static func randomKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The token of `workID` for `member`, assigned to `worker` (a CURVE name, or a registered name in plaintext).
    public func token(worker: String, workID: UInt64, member: String) -> [UInt8] {
        var message = Array("distillery-assignment\u{0}\(worker)\u{0}\(member)\u{0}".utf8)
        withUnsafeBytes(of: workID.littleEndian) { message += $0 }
        return Self.hmac(key: key, message: message)
    }

    /// Constant-time comparison with the expected token.
    public func verify(_ token: [UInt8], worker: String, workID: UInt64, member: String) -> Bool {
        let expected = self.token(worker: worker, workID: workID, member: member)
        guard token.count == expected.count else { return false }
        return zip(token, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        let blockSize = 64
        var block = key.count > blockSize ? SHA256.digest(Data(key)) : key
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        let inner = SHA256.digest(Data(block.map { $0 ^ 0x36 } + message))
        return SHA256.digest(Data(block.map { $0 ^ 0x5C } + inner))
    }
}
