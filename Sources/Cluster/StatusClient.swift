import Foundation
import Wire

/// Asks a coordinator for its status: what `distillery status` and `distillery run` show.
public enum StatusClient {
    /// `keyName`: under CURVE, whose pair to present (an operator's key: its allow-list role is for status only).
    public static func fetch(coordinator: String, keysDirectory: String?, keyName: String = "operator",
                             timeout: Double = 5) throws -> (json: String, status: ClusterStatus) {
        let context = Context()
        let security = try ClusterSecurity(keysDirectory: keysDirectory, keyName: keyName)
        let socket = try Socket(context, .dealer)
        defer { socket.close(); security.stop() }
        try socket.set(.linger(0))
        try security.secureClient(socket)
        try socket.connect(coordinator)
        let request = WireMessage(Envelope(jobID: "-", sender: "status", kind: .statusRequest))
        try socket.send(request.frames())
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            guard try Poller.readable([socket], timeoutMilliseconds: 100)[0], let frames = try socket.receive(dontWait: true) else { continue }
            guard let message = try? ReceivedMessage.parse(frames) else { continue }
            switch message.envelope.kind {
            case let .statusReply(json):
                let status = try JSONDecoder().decode(ClusterStatus.self, from: Data(json.utf8))
                return (json, status)
            case let .error(_, text):
                throw ClusterError("the coordinator at \(coordinator) refused the status request: \(text.escapedForLog)")
            default:
                continue
            }
        }
        throw ClusterError("no answer from a coordinator at \(coordinator) within \(Int(timeout)) s")
    }
}
