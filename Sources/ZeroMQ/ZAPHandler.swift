import CZeroMQ
import Foundation
import Synchronization

/// The ZAP handler (ZeroMQ RFC 27) that makes CURVE an allow-list: without one libzmq accepts any client
/// key. It admits a CURVE client only if its public key is listed and reports the listed name as the
/// connection's "User-Id", which receivers use instead of anything a peer claims in its messages.
public final class ZAPHandler: Sendable {
    public static let endpoint = "inproc://zeromq.zap.01"

    private let stopRequested = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)

    /// Binds the context's ZAP endpoint and starts answering on a thread of its own.
    public init(context: Context, allowList: AllowList, allowPlaintext: Bool = false) throws {
        let socket = try Socket(context, .rep)
        try socket.set(.receiveTimeout(100))
        try socket.set(.linger(0))
        try socket.bind(ZAPHandler.endpoint)
        let box = UncheckedBox(socket)
        let thread = Thread { [self] in
            let socket = box.value
            while !stopRequested.load(ordering: .relaxed) {
                guard let request = try? socket.receive() else { continue }
                _ = try? socket.send(Self.reply(to: request, allowList: allowList, allowPlaintext: allowPlaintext))
            }
            socket.close()
            finished.withLock { $0 = true }
        }
        thread.name = "zap-handler"
        thread.start()
    }

    /// Stops answering and closes the socket (connections then fail their handshakes).
    public func stop() {
        stopRequested.store(true, ordering: .relaxed)
        while !finished.withLock({ $0 }) { usleep(1000) }
    }

    static func reply(to request: [ReceivedFrame], allowList: AllowList, allowPlaintext: Bool) -> [OutgoingFrame] {
        // version, request id, domain, address, routing id, mechanism, credentials...
        guard request.count >= 6, request[0].text == "1.0" else {
            return [.text("1.0"), .bytes(request.count > 1 ? request[1].bytes : []), .text("500"), .text("malformed ZAP request"), .text(""), .bytes([])]
        }
        let id = request[1].bytes, mechanism = request[5].text
        func answer(_ status: String, _ text: String, _ user: String) -> [OutgoingFrame] {
            [.text("1.0"), .bytes(id), .text(status), .text(text), .text(user), .bytes([])]
        }
        switch mechanism {
        case "CURVE":
            guard request.count >= 7, let key = CurveKeyPair.z85(request[6].bytes), let user = allowList.users[key] else {
                return answer("400", "client key not on the allow-list", "")
            }
            return answer("200", "OK", user)
        case "NULL" where allowPlaintext:
            return answer("200", "OK", "anonymous")
        default:
            return answer("400", "mechanism \(mechanism) not allowed", "")
        }
    }
}

/// Hands a non-Sendable value to exactly one other thread, which then owns it alone.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
