@_exported import WireProtocol
@_exported import ZeroMQ

/// A message to send: the envelope (frame 1) and its tensors' frames, descriptors filled in.
public struct WireMessage: Sendable {
    public var envelope: Envelope
    public var tensorFrames: [[UInt8]]

    public init(_ envelope: Envelope, tensors: [WireTensor] = []) {
        var e = envelope
        e.tensors = tensors.map(\.descriptor)
        self.envelope = e
        tensorFrames = tensors.map(\.frame)
    }

    /// The frames to hand a socket; a ROUTER needs the peer's routing id in front.
    public func frames(to peer: [UInt8]? = nil) -> [OutgoingFrame] {
        var out: [OutgoingFrame] = peer.map { [.bytes($0)] } ?? []
        out.append(.bytes(EnvelopeEncoder.encode(envelope)))
        out.append(contentsOf: tensorFrames.map { .bytes($0) })
        return out
    }
}

/// A received message that passed every check: envelope rules, frame count, frame sizes and CRC-32C.
public struct ReceivedMessage: Sendable {
    public let envelope: Envelope
    public let tensorFrames: [ReceivedFrame]
    /// The ROUTER routing id of the sender, for replies.
    public let peer: [UInt8]?
    /// Who the connection authenticated as (the ZAP user id under CURVE); trust this, not `envelope.sender`.
    public let userID: String?

    /// Validates raw frames from a socket. `fromRouter`: the first frame is the peer's routing id.
    public static func parse(_ frames: [ReceivedFrame], fromRouter: Bool = false, limits: WireLimits = .standard) throws -> ReceivedMessage {
        var rest = frames[...]
        var peer: [UInt8]?
        if fromRouter {
            guard let id = rest.popFirst() else { throw WireError(.malformed, "no routing id frame") }
            peer = id.bytes
        }
        guard let head = rest.popFirst() else { throw WireError(.malformed, "no envelope frame") }
        let envelope = try head.withUnsafeBytes { try EnvelopeDecoder.decode($0, limits: limits) }
        guard rest.count == envelope.tensors.count else {
            throw WireError(.invalidTensor, "envelope describes \(envelope.tensors.count) tensors but \(rest.count) frames follow")
        }
        for (descriptor, frame) in zip(envelope.tensors, rest) {
            try frame.withUnsafeBytes { try WireTensor.verify(descriptor, frame: $0) }
        }
        return ReceivedMessage(envelope: envelope, tensorFrames: Array(rest), peer: peer, userID: head.property("User-Id"))
    }

    /// Tensor `index` decoded to Float (size and CRC-32C already verified by `parse`).
    public func tensor(_ index: Int) throws -> [Float] {
        try tensorFrames[index].withUnsafeBytes { try WireTensor.decodeVerified(envelope.tensors[index], frame: $0) }
    }

    /// Tensor by name, or nil when the message has none of that name.
    public func tensor(named name: String) throws -> [Float]? {
        guard let i = envelope.tensors.firstIndex(where: { $0.name == name }) else { return nil }
        return try tensor(i)
    }
}

extension WireError {
    /// The control-plane answer to a message refused with this error.
    public func reply(jobID: String, sender: String) -> WireMessage {
        WireMessage(Envelope(jobID: jobID.isEmpty ? "-" : jobID, sender: sender, kind: .error(code: code, message: message)))
    }
}
