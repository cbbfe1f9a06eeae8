/// The pruning methods by the names the literature and the CLI use.
public enum PruningMethod: String, CaseIterable, Sendable {
    case magnitude, globalMagnitude = "global-magnitude", obd, lottery, synflow, random, structured

    /// One line per method, for help texts.
    public var explanation: String {
        switch self {
        case .magnitude: return "smallest |w| of each layer (layer-wise)"
        case .globalMagnitude: return "smallest |w| over the whole network"
        case .obd: return "Optimal Brain Damage: smallest h_kk * w_k^2 / 2, h the Fisher diagonal"
        case .lottery: return "iterative magnitude pruning with rewinding (Frankle and Carbin 2018)"
        case .synflow: return "data-free, iterative |dR/dθ ⊙ θ| (Tanaka et al. 2020)"
        case .random: return "the baseline: random weights of each layer"
        case .structured: return "whole channels/neurons of smallest L1 norm: a smaller dense network"
        }
    }
}
