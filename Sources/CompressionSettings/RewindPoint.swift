import NeuralNet

/// Where a lottery ticket's survivors are rewound to after each round.
public enum RewindPoint: Equatable, Sendable, CustomStringConvertible {
    /// To the weights the network was initialised with.
    case initial
    /// To the weights after this many optimizer steps of training from initialisation.
    case step(Int)

    /// `init` or a step count.
    public init(_ text: String) throws {
        if text == "init" { self = .initial; return }
        guard let steps = Int(text), steps >= 0 else {
            throw NeuralNetError("rewind must be init or a step count >= 0, got '\(text)'")
        }
        self = steps == 0 ? .initial : .step(steps)
    }

    public var description: String {
        switch self {
        case .initial: return "init"
        case let .step(n): return "step \(n)"
        }
    }
}
