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
    public static func softTargets(_ members: [Tensor], temperature: Float, rule: Rule = .probabilities) -> Tensor {
        precondition(!members.isEmpty, "an ensemble has at least one member")
        precondition(members.allSatisfy { $0.shape == members[0].shape }, "members disagree on shape: \(members.map(\.shape))")
        let scale = 1 / Float(members.count)
        switch rule {
        case .probabilities:
            var sum = Tensor(zeros: members[0].shape)
            for m in members {
                let p = Softmax.probabilities(m, temperature: temperature)
                for i in 0..<sum.count { sum.scalars[i] += p.scalars[i] * scale }
            }
            return sum
        case .logits:
            var mean = Tensor(zeros: members[0].shape)
            for m in members { for i in 0..<mean.count { mean.scalars[i] += m.scalars[i] * scale } }
            return Softmax.probabilities(mean, temperature: temperature)
        }
    }
}
