/// Learning-rate schedules over training progress measured in (fractional) epochs.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// Multiply by `gamma` every `every` epochs (torch StepLR).
    case step(every: Int, gamma: Float)
    /// Cosine annealing from the base rate to `minimum` over the whole run (torch CosineAnnealingLR).
    case cosine(minimum: Float)

    /// The rate at `epoch` (0-based, fractional within an epoch) of `totalEpochs`.
    public func rate(base: Float, epoch: Double, totalEpochs: Int) -> Float {
        switch self {
        case .constant:
            return base
        case let .step(every, gamma):
            let drops = Int(epoch.rounded(.down)) / max(every, 1)
            return base * Float(pow(Double(gamma), Double(drops)))
        case let .cosine(minimum):
            let progress = min(max(epoch / Double(max(totalEpochs, 1)), 0), 1)
            return minimum + (base - minimum) * Float((1 + cos(Double.pi * progress)) / 2)
        }
    }

    /// The schedule as `parse` reads it.
    public var text: String {
        switch self {
        case .constant: return "constant"
        case let .step(every, gamma): return "step:\(every):\(gamma)"
        case let .cosine(minimum): return minimum == 0 ? "cosine" : "cosine:\(minimum)"
        }
    }

    /// Parses `constant`, `step:EVERY:GAMMA` (e.g. step:3:0.1) or `cosine[:MIN]`.
    public static func parse(_ text: String) throws -> LearningRateSchedule {
        let parts = text.split(separator: ":").map(String.init)
        switch parts.first {
        case "constant" where parts.count == 1:
            return .constant
        case "step" where parts.count == 3:
            guard let every = Int(parts[1]), every > 0, let gamma = Float(parts[2]), gamma > 0 else { break }
            return .step(every: every, gamma: gamma)
        case "cosine" where parts.count <= 2:
            guard parts.count == 2 else { return .cosine(minimum: 0) }
            guard let minimum = Float(parts[1]), minimum >= 0 else { break }
            return .cosine(minimum: minimum)
        default:
            break
        }
        throw NeuralNetError("unknown learning-rate schedule '\(text)': use constant, step:EVERY:GAMMA (e.g. step:5:0.1) or cosine[:MIN]")
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
