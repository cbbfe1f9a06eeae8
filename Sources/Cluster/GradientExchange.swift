import Compute
import NeuralNet
import Wire

/// Synchronous data-parallel training across student replicas. Every step each replica sends its
/// gradients (and its BatchNorm running statistics) to every other replica, then all of them form the
/// same sample-weighted average, summed in replica order: identical inputs, identical arithmetic,
/// so every replica applies the same update and the weights stay bit-identical.
public final class GradientExchange {
    struct Contribution {
        var samples: Int
        var tensors: [[Float]]
    }

    public let replica: Int
    public let replicas: Int
    private let parameters: [(name: String, parameter: Parameter)]
    private let peers: [Int: Socket]
    private var inbox: [UInt64: [Int: Contribution]] = [:]
    private let jobID: String
    private let sender: String

    /// `peerKeys`: under CURVE, each replica's public key (its data endpoint serves with it), by replica index.
    public init(replica: Int, peers endpoints: [String], peerKeys: [String] = [], parameters: [(name: String, parameter: Parameter)],
                context: Context, security: ClusterSecurity, jobID: String, sender: String) throws {
        self.replica = replica
        replicas = endpoints.count
        self.parameters = parameters
        self.jobID = jobID
        self.sender = sender
        var peers: [Int: Socket] = [:]
        for (r, endpoint) in endpoints.enumerated() where r != replica {
            let socket = try Socket(context, .push)
            try socket.set(.linger(2000))
            try security.secureClient(socket, serverKey: r < peerKeys.count ? peerKeys[r] : nil)
            try socket.connect(endpoint)
            peers[r] = socket
        }
        self.peers = peers
    }

    /// Sends this replica's contribution for `step`; returns the bytes sent to all peers together.
    @discardableResult
    public func publish(step: UInt64, samples: Int) throws -> Int {
        guard replicas > 1 else { return 0 }
        let tensors = parameters.map { name, p in
            WireTensor(name: name, values: p.isTrainable ? p.grad.scalars : p.value.scalars, shape: p.value.shape)
        }
        let message = WireMessage(Envelope(jobID: jobID, sender: sender, kind: .gradients(step: step, replica: UInt32(replica), samples: UInt32(samples))),
                                  tensors: tensors)
        let frames = message.frames()
        for r in peers.keys.sorted() where try !peers[r]!.send(frames, dontWait: true) {
            throw ClusterError("replica \(r) is not taking gradients (its queue is full or it is gone)")
        }
        inbox[step, default: [:]][replica] = Contribution(samples: samples, tensors: parameters.map { _, p in p.isTrainable ? p.grad.scalars : p.value.scalars })
        return frames.byteCount * peers.count
    }

    /// Takes a peer's Gradients message; returns a reason when it is refused.
    public func receive(_ message: ReceivedMessage, step: UInt64, fromReplica r: Int, samples: Int) -> String? {
        guard r >= 0, r < replicas, r != replica else { return "gradients from replica \(r), not a peer of replica \(replica) of \(replicas)" }
        guard message.envelope.tensors.count == parameters.count else {
            return "gradients with \(message.envelope.tensors.count) tensors, the model has \(parameters.count)"
        }
        var tensors: [[Float]] = []
        for (i, (name, p)) in parameters.enumerated() {
            let d = message.envelope.tensors[i]
            guard d.name == name, d.shape == p.value.shape, case .dense = d.encoding, let values = try? message.tensor(i), values.allSatisfy(\.isFinite) else {
                return "gradient tensor \(i) ('\(d.name)' \(d.shape)) does not match parameter '\(name)' \(p.value.shape) or is not finite"
            }
            tensors.append(values)
        }
        inbox[step, default: [:]][r] = Contribution(samples: samples, tensors: tensors)
        return nil
    }

    /// The bytes of one replica's gradients message (its tensors), for the data endpoint's message limit.
    public var messageBytes: Int { parameters.reduce(0) { $0 + $1.parameter.value.count * MemoryLayout<Float>.size } }

    public func isComplete(step: UInt64) -> Bool { replicas == 1 || (inbox[step]?.count ?? 0) == replicas }

    /// Replaces every gradient (and running statistic) by the replicas' sample-weighted average.
    public func average(step: UInt64) {
        guard replicas > 1, let contributions = inbox.removeValue(forKey: step) else { return }
        let total = Float(contributions.values.reduce(0) { $0 + $1.samples })
        guard total > 0 else { return }
        for (i, (_, p)) in parameters.enumerated() {
            var sum = [Float](repeating: 0, count: p.value.count)
            for r in 0..<replicas {
                let c = contributions[r]!
                guard c.samples > 0 else { continue }
                let weight = Float(c.samples) / total
                let values = c.tensors[i]
                for j in sum.indices { sum[j] += values[j] * weight }
            }
            if p.isTrainable { p.grad.scalars = sum } else { p.value.scalars = sum }
        }
    }
}
