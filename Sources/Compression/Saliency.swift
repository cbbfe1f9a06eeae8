import Compute
import Foundation
import Datasets
import NeuralNet

/// Per-weight importance scores of the pruning methods, keyed as `PruningMasks`. Higher means keep.
public enum Saliency {
    /// |w|: magnitude pruning.
    public static func magnitude(_ model: Network) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: PruningMasks.prunable(model).map { ($0.name, $0.parameter.value.scalars.map(abs)) })
    }

    /// Uniform noise from `seed`: the random baseline.
    public static func random(_ model: Network, seed: UInt64) -> [String: [Float]] {
        var rng = SeededRandom(seed: seed, stream: 0x9A4D)
        return Dictionary(uniqueKeysWithValues: PruningMasks.prunable(model).map { name, p in
            (name, (0..<p.value.count).map { _ in rng.nextFloat() })
        })
    }

    /// Optimal Brain Damage (LeCun, Denker and Solla 1990): s_k = h_kk * w_k^2 / 2, the loss increase a second-order
    /// expansion predicts for deleting w_k. h_kk is the diagonal of the Fisher information with labels drawn from the
    /// model's own softmax, averaged over per-sample gradients: for a softmax cross-entropy it is an unbiased estimate
    /// of the Gauss-Newton (Levenberg-Marquardt) diagonal that LeCun et al. used, needs first derivatives only, and is
    /// never negative, so saliencies rank cleanly. `images` are already normalised as the model expects.
    public static func obd(_ model: Network, images: Tensor, seed: UInt64) -> [String: [Float]] {
        let prunable = PruningMasks.prunable(model)
        var hessian = prunable.map { [Float](repeating: 0, count: $0.parameter.value.count) }
        var rng = SeededRandom(seed: seed, stream: 0x0BD)
        let samples = images.shape[0]
        for s in 0..<samples {
            let logits = model.forward(images.rows(s..<(s + 1)), training: false)
            // A language model's window has a row of scores per position, each with its own sampled label.
            let rows = logits.asRows
            let classes = rows.shape[1]
            let probabilities = Softmax.probabilities(rows).scalars
            var gradient = Tensor(shape: logits.shape, scalars: probabilities)
            for row in 0..<rows.shape[0] {
                // Sampled label y ~ p: dL/dz = p - onehot(y).
                var u = rng.nextFloat(), label = classes - 1
                for k in 0..<classes { let p = probabilities[row * classes + k]; if u < p { label = k; break }; u -= p }
                gradient.scalars[row * classes + label] -= 1
            }
            model.backward(gradient)
            for (j, entry) in prunable.enumerated() {
                let g = entry.parameter.grad.scalars
                for i in 0..<g.count { hessian[j][i] += g[i] * g[i] }
            }
        }
        let scale = 1 / Float(max(samples, 1))
        return Dictionary(uniqueKeysWithValues: prunable.enumerated().map { j, entry in
            (entry.name, zip(hessian[j], entry.parameter.value.scalars).map { h, w in h * scale * w * w / 2 })
        })
    }

    /// SynFlow (Tanaka, Kunin, Yamins and Ganguli 2020): |dR/dθ ⊙ θ| with R = 1ᵀ(∏|θ|)1, the network evaluated with
    /// every parameter and buffer replaced by its absolute value on an all-ones input. Uses no data.
    /// `masks` zero the weights already pruned, as each SynFlow round sees the network pruned so far.
    public static func synflow(_ model: Network, masks: PruningMasks) throws -> [String: [Float]] {
        guard !model.spec.isLanguageModel else {
            throw NeuralNetError("SynFlow scores a network on an all-ones input; \(model.spec.text) reads token ids: prune it by magnitude, obd, lottery or random")
        }
        let linearised = try copy(model)
        for (_, parameter) in linearised.namedParameters { parameter.value.scalars = parameter.value.scalars.map(abs) }
        masks.apply(to: linearised)
        let input = Tensor(repeating: 1, shape: [1] + model.inputShape)
        let output = linearised.forward(input, training: false)
        linearised.backward(Tensor(repeating: 1, shape: output.shape))
        return Dictionary(uniqueKeysWithValues: PruningMasks.prunable(linearised).map { name, p in
            (name, zip(p.grad.scalars, p.value.scalars).map { abs($0 * $1) })
        })
    }

    /// Iterative SynFlow: `rounds` rounds of global pruning on the exponential schedule
    /// sparsity_k = 1 - (1 - sparsity)^(k / rounds), rescoring after each, as the paper prescribes (100 rounds).
    public static func synflowMasks(_ model: Network, sparsity: Double, rounds: Int) throws -> PruningMasks {
        var masks = PruningMasks.dense(model)
        for k in 1...max(1, rounds) {
            let target = 1 - pow(1 - sparsity, Double(k) / Double(max(1, rounds)))
            masks = PruningMasks.select(scores: try synflow(model, masks: masks), sparsity: target, scope: .global, within: masks)
        }
        return masks
    }
}
