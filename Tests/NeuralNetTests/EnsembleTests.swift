import Compute
import Foundation
import Testing
@testable import NeuralNet

@Suite struct EnsembleTests {
    let a = GradientCheck.randomTensor([3, 5], seed: 1, scale: 4)
    let b = GradientCheck.randomTensor([3, 5], seed: 2, scale: 4)

    @Test func probabilitiesRuleAveragesTemperedSoftmaxes() {
        let t: Float = 3
        let combined = Ensemble.softTargets([a, b], temperature: t)
        let pa = Softmax.probabilities(a, temperature: t), pb = Softmax.probabilities(b, temperature: t)
        for i in 0..<15 { #expect(abs(combined.scalars[i] - (pa.scalars[i] + pb.scalars[i]) / 2) < 1e-6) }
        for r in 0..<3 { #expect(abs(combined.scalars[(r * 5)..<(r * 5 + 5)].reduce(0, +) - 1) < 1e-5) }
        #expect(Ensemble.softTargets([a], temperature: t) == pa)
    }

    @Test func logitsRuleTempersTheMeanLogit() {
        let combined = Ensemble.softTargets([a, b], temperature: 2, rule: .logits)
        let mean = Tensor(shape: [3, 5], scalars: zip(a.scalars, b.scalars).map { ($0 + $1) / 2 })
        #expect(zip(combined.scalars, Softmax.probabilities(mean, temperature: 2).scalars).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func higherTemperaturesSoftenTheTargets() {
        func entropy(_ p: Tensor) -> Double { p.scalars.reduce(0.0) { $0 - ($1 > 0 ? Double($1) * log(Double($1)) : 0) } }
        #expect(entropy(Ensemble.softTargets([a, b], temperature: 1)) < entropy(Ensemble.softTargets([a, b], temperature: 8)))
    }

    /// Weights make the mean a weighted one (divided by their sum); equal weights are the plain mean, bit for bit.
    @Test func weightsMixMembersInProportion() {
        let pa = Softmax.probabilities(a, temperature: 2), pb = Softmax.probabilities(b, temperature: 2)
        let weighted = Ensemble.softTargets([a, b], temperature: 2, weights: [3, 1])
        for i in 0..<15 { #expect(abs(weighted.scalars[i] - (0.75 * pa.scalars[i] + 0.25 * pb.scalars[i])) < 1e-6) }
        #expect(Ensemble.softTargets([a, b], temperature: 2, weights: [5, 5]) == Ensemble.softTargets([a, b], temperature: 2))
    }
}
