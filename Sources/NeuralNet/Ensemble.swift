import Compute

/// Turns the ensemble members' logits into the soft targets a student learns from (Hinton et al. 2015).
public enum Ensemble {
    public enum Rule: String, Sendable, CaseIterable {
        /// mean over members of softmax(z_i / T): the default.
        case probabilities
        /// softmax(mean over members of z_i / T).
        case logits
    }

    /// members: each (batch, classes) logits -> (batch, classes) probabilities at temperature T.
    public static func softTargets(_ members: [Tensor], temperature: Float, rule: Rule = .probabilities, weights: [Float]? = nil) -> Tensor {
        combine(members.map { memberOutput($0, temperature: temperature, rule: rule) }, temperature: temperature, rule: rule, weights: weights)
    }

    /// What one member contributes, as a teacher worker sends it: its probabilities at T for the probability rule,
    /// its logits as they are for the logit rule.
    public static func memberOutput(_ logits: Tensor, temperature: Float, rule: Rule) -> Tensor {
        rule == .probabilities ? Softmax.probabilities(logits, temperature: temperature) : logits
    }

    /// The one place members become soft targets, wherever their outputs were computed (in this process or on
    /// teacher workers): the mean of their `memberOutput`s, in member order, then for the logit rule the softmax at T.
    /// `weights` (positive, one per member; nil: equal) make it a weighted mean, each divided by their sum.
    public static func combine(_ outputs: [Tensor], temperature: Float, rule: Rule, weights: [Float]? = nil) -> Tensor {
        precondition(!outputs.isEmpty, "an ensemble has at least one member")
        precondition(outputs.allSatisfy { $0.shape == outputs[0].shape }, "members disagree on shape: \(outputs.map(\.shape))")
        let weights = weights ?? [Float](repeating: 1, count: outputs.count)
        precondition(weights.count == outputs.count && weights.allSatisfy { $0 > 0 }, "one positive weight per member: \(weights)")
        let total = weights.reduce(0, +)
        var mean = Tensor(zeros: outputs[0].shape)
        for (m, weight) in zip(outputs, weights) {
            let scale = weight / total
            mean.scalars.withUnsafeMutableBufferPointer { out in
                m.scalars.withUnsafeBufferPointer { member in for i in 0..<out.count { out[i] += member[i] * scale } }
            }
        }
        return rule == .probabilities ? mean : Softmax.probabilities(mean, temperature: temperature)
    }
}
