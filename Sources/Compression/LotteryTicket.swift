import Compute
import Foundation
import NeuralNet

/// Iterative magnitude pruning with rewinding (Frankle and Carbin 2018; rewinding to an early step: Frankle et
/// al. 2019): each round removes `1 - (1 - sparsity)^(1 / rounds)` of the surviving weights by global magnitude,
/// resets the survivors to their values at the rewind point, and retrains with the mask fixed.
public struct LotteryTicket {
    /// Where survivors are rewound to (CompressionSettings).
    public typealias Rewind = RewindPoint

    public var sparsity: Double
    public var rounds: Int
    public var rewind: Rewind
    public var epochsPerRound: Int

    public init(sparsity: Double, rounds: Int, rewind: Rewind, epochsPerRound: Int) {
        self.sparsity = sparsity; self.rounds = max(1, rounds); self.rewind = rewind; self.epochsPerRound = epochsPerRound
    }

    /// The rewind point: `initial` itself, or a copy trained `n` steps (dense) by `tuner`.
    public func rewindWeights(initial: Network, tuner: FineTuner) throws -> Network {
        let point = try copy(initial)
        if case let .step(n) = rewind {
            let steps = (tuner.train.count + tuner.config.batchSize - 1) / tuner.config.batchSize
            try tuner.fit(point, masks: nil, epochs: max(1, (n + steps - 1) / steps), maxSteps: n)
        }
        return point
    }

    /// Runs every round from `trained` (the dense network trained from `initial`); returns the final network
    /// and its mask. `onRound(round, masks)` reports after each retraining.
    public func run(trained: Network, initial: Network, tuner: FineTuner,
                    onRound: (Int, PruningMasks) -> Void = { _, _ in }) throws -> (model: Network, masks: PruningMasks) {
        let rewindPoint = try rewindWeights(initial: initial, tuner: tuner)
        var current = try copy(trained)
        var masks = PruningMasks.dense(trained)
        for round in 1...rounds {
            let target = 1 - pow(1 - sparsity, Double(round) / Double(rounds))
            masks = PruningMasks.select(scores: Saliency.magnitude(current), sparsity: target, scope: .global, within: masks)
            current = try copy(rewindPoint)
            try tuner.fit(current, masks: masks, epochs: epochsPerRound)
            onRound(round, masks)
        }
        return (current, masks)
    }

    /// The control of the paper: the same mask on freshly drawn weights (seed `seed`), trained as long as one round.
    public func randomReinitialisation(masks: PruningMasks, spec: ModelSpec, seed: UInt64, tuner: FineTuner) throws -> Network {
        let model = try Network(spec, seed: seed)
        try tuner.fit(model, masks: masks, epochs: epochsPerRound)
        return model
    }
}

/// A deep copy of a network's parameters and buffers.
public func copy(_ model: Network) throws -> Network {
    let clone = try Network(model.spec, architecture: model.architecture, seed: 0)
    for ((_, target), (_, source)) in zip(clone.namedParameters, model.namedParameters) { target.value = source.value }
    return clone
}
