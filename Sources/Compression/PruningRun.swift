@_exported import CompressionSettings
import Compute
import Foundation
import NeuralNet

/// One pruning run: choose what to remove, remove it, fine-tune with the mask fixed.
public struct PruningRun {
    public var method: PruningMethod
    public var sparsity: Double
    /// Lottery (default 5) and SynFlow (default 100) rounds.
    public var rounds: Int?
    public var rewind: LotteryTicket.Rewind
    /// Fine-tuning epochs (lottery: retraining epochs per round).
    public var finetuneEpochs: Int
    /// The checkpoint's initialisation seed (lottery rewinds there) and the seed of random choices.
    public var seed: UInt64
    /// Magnitude methods: raise the sparsity over the fine-tuning instead of all at once.
    public var gradual: Bool = false

    public init(method: PruningMethod, sparsity: Double, rounds: Int? = nil, rewind: LotteryTicket.Rewind = .initial,
                finetuneEpochs: Int, seed: UInt64, gradual: Bool = false) {
        self.method = method; self.sparsity = sparsity; self.rounds = rounds; self.rewind = rewind
        self.finetuneEpochs = finetuneEpochs; self.seed = seed; self.gradual = gradual
    }

    public struct Result {
        public var model: Network
        /// Fraction of prunable weights zeroed, or for structured pruning of all parameters removed.
        public var sparsity: Double
        /// The pruned network before fine-tuning (nil for lottery, which trains as it prunes).
        public var beforeFineTuning: Network?
        /// Zeros are the pruning; structured results are dense.
        public var storesSparse: Bool
    }

    /// `sample` (normalised images) feeds OBD's Hessian estimate and nothing else; `onRound` reports lottery rounds.
    public func run(_ network: Network, tuner: FineTuner, sample: () -> Tensor,
                    onRound: (Int, Int, PruningMasks) -> Void = { _, _, _ in }) throws -> Result {
        let dense = PruningMasks.dense(network)
        func pruneOnce(_ masks: PruningMasks) throws -> Result {
            let pruned = try copy(network)
            masks.apply(to: pruned)
            let before = try copy(pruned)
            try tuner.fit(pruned, masks: masks, epochs: finetuneEpochs)
            return Result(model: pruned, sparsity: masks.sparsity, beforeFineTuning: before, storesSparse: true)
        }
        switch method {
        case .magnitude:
            return try pruneOnce(.select(scores: Saliency.magnitude(network), sparsity: sparsity, scope: .layerwise, within: dense))
        case .globalMagnitude where gradual && finetuneEpochs > 1, .magnitude where gradual && finetuneEpochs > 1:
            return try pruneGradually(network, tuner: tuner, scope: method == .magnitude ? .layerwise : .global)
        case .globalMagnitude:
            return try pruneOnce(.select(scores: Saliency.magnitude(network), sparsity: sparsity, scope: .global, within: dense))
        case .random:
            return try pruneOnce(.select(scores: Saliency.random(network, seed: seed), sparsity: sparsity, scope: .layerwise, within: dense))
        case .obd:
            return try pruneOnce(.select(scores: Saliency.obd(network, images: sample(), seed: seed), sparsity: sparsity, scope: .global, within: dense))
        case .synflow:
            return try pruneOnce(try Saliency.synflowMasks(network, sparsity: sparsity, rounds: rounds ?? 100))
        case .lottery:
            let ticket = LotteryTicket(sparsity: sparsity, rounds: rounds ?? 5, rewind: rewind, epochsPerRound: max(1, finetuneEpochs))
            let (model, masks) = try ticket.run(trained: network, initial: try Network(network.spec, seed: seed), tuner: tuner) { round, m in
                onRound(round, ticket.rounds, m)
            }
            return Result(model: model, sparsity: masks.sparsity, beforeFineTuning: nil, storesSparse: true)
        case .structured:
            let smaller = try StructuredPruning.prune(network, sparsity: sparsity)
            let before = try copy(smaller)
            try tuner.fit(smaller, masks: nil, epochs: finetuneEpochs)
            return Result(model: smaller, sparsity: 1 - Double(smaller.parameterCount) / Double(network.parameterCount),
                          beforeFineTuning: before, storesSparse: false)
        }
    }

    /// Gradual magnitude pruning (Zhu and Gupta 2017): at the start of epoch e the sparsity is
    /// s * (1 - (1 - (e + 1) / P)^3) over the first P = ceil(2/3 of the epochs), then stays at s while the rest
    /// fine-tune; each step prunes by the magnitudes the weights have reached.
    func pruneGradually(_ network: Network, tuner: FineTuner, scope: PruningMasks.Scope) throws -> Result {
        let pruned = try copy(network)
        let rampEpochs = max(1, (2 * finetuneEpochs + 2) / 3)
        var masks = PruningMasks.dense(network)
        let target = sparsity
        try tuner.fit(pruned, epochs: finetuneEpochs) { epoch in
            let progress = min(1, Double(epoch + 1) / Double(rampEpochs))
            let level = target * (1 - pow(1 - progress, 3))
            masks = PruningMasks.select(scores: Saliency.magnitude(pruned), sparsity: level, scope: scope, within: masks)
            return masks
        }
        return Result(model: pruned, sparsity: masks.sparsity, beforeFineTuning: nil, storesSparse: true)
    }
}
