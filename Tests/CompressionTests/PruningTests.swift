import Compute
import Datasets
import NeuralNet
import Testing
import Training
@testable import Compression

@Suite struct PruningTests {
    static func blobs(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = SeededRandom(seed: seed)
        var pixels: [Float] = [], labels: [Int32] = []
        for i in 0..<n {
            let label = i % 3
            for d in 0..<12 { pixels.append((d % 3 == label ? 1.5 : 0) + 0.5 * rng.nextGaussian()) }
            labels.append(Int32(label))
        }
        return LabeledImages(images: Tensor(shape: [n, 12], scalars: pixels), labels: labels)
    }

    @Test func layerwiseSelectionPrunesEachLayerByItsOwnRanking() throws {
        let model = try Network(ModelSpec("mlp:12-20-3"), seed: 1)
        let masks = PruningMasks.select(scores: Saliency.magnitude(model), sparsity: 0.75, scope: .layerwise, within: .dense(model))
        for (name, parameter) in PruningMasks.prunable(model) {
            let mask = masks.masks[name]!
            #expect(mask.filter { $0 }.count == Int((Double(mask.count) * 0.25).rounded()))
            let kept = zip(mask, parameter.value.scalars).filter(\.0).map { abs($0.1) }
            let pruned = zip(mask, parameter.value.scalars).filter { !$0.0 }.map { abs($0.1) }
            #expect(kept.min()! >= pruned.max()!, "\(name)")
        }
    }

    @Test func globalSelectionUsesOneThresholdAndKeepsEarlierPruning() throws {
        let model = try Network(ModelSpec("mlp:12-20-3"), seed: 2)
        let scores = Saliency.magnitude(model)
        let first = PruningMasks.select(scores: scores, sparsity: 0.5, scope: .global, within: .dense(model))
        #expect(first.kept == Int((Double(first.total) * 0.5).rounded()))
        let all = PruningMasks.prunable(model).flatMap { entry in zip(first.masks[entry.name]!, entry.parameter.value.scalars.map(abs)) }
        #expect(all.filter(\.0).map(\.1).min()! >= all.filter { !$0.0 }.map(\.1).max()!)
        // Reversed scores would keep the small weights, but pruned stays pruned.
        let reversed = scores.mapValues { $0.map { -$0 } }
        let second = PruningMasks.select(scores: reversed, sparsity: 0.8, scope: .global, within: first)
        #expect(second.kept == Int((Double(first.total) * 0.2).rounded()))
        for (name, mask) in second.masks { for (i, kept) in mask.enumerated() where kept { #expect(first.masks[name]![i]) } }
    }

    /// The sampled-label Fisher diagonal converges to its exact expectation sum_y p_y g_y^2.
    @Test func obdSaliencyIsTheFisherDiagonalTimesWeightSquaredOverTwo() throws {
        let model = try Network(ModelSpec("mlp:12-6-3"), seed: 3)
        let one = PruningTests.blobs(1, seed: 4).images
        let repeated = Tensor(shape: [3000, 12], scalars: (0..<3000).flatMap { _ in one.scalars })
        let estimate = Saliency.obd(model, images: repeated, seed: 5)
        let logits = model.forward(one, training: false)
        let p = Softmax.probabilities(logits).scalars
        var exact: [String: [Float]] = [:]
        for y in 0..<3 {
            var g = Tensor(shape: [1, 3], scalars: p)
            g.scalars[y] -= 1
            _ = model.forward(one, training: false)
            model.backward(g)
            for (name, parameter) in PruningMasks.prunable(model) {
                let contribution = zip(parameter.grad.scalars, parameter.value.scalars).map { grad, w in p[y] * grad * grad * w * w / 2 }
                exact[name] = zip(exact[name] ?? contribution.map { _ in 0 }, contribution).map(+)
            }
        }
        for (name, values) in exact {
            let total = values.reduce(0, +), estimated = estimate[name]!.reduce(0, +)
            #expect(abs(estimated - total) < 0.08 * total, "\(name): \(estimated) vs \(total)")
            let worst = zip(values, estimate[name]!).map { abs($0 - $1) }.max()!
            #expect(worst < 0.15 * values.max()!, "\(name): worst element error \(worst)")
        }
    }

    /// mlp:3-4-2 with |θ| on ones: dR/dW1[i,k] = sum_j |W2[j,i]|, dR/dW2[j,i] = h_i = sum_k |W1[i,k]| + |b1[i]|.
    @Test func synflowScoresMatchTheClosedForm() throws {
        let model = try Network(ModelSpec("mlp:3-4-2"), seed: 6)
        let scores = try Saliency.synflow(model, masks: .dense(model))
        let first = model.layers[1] as! Linear, second = model.layers[3] as! Linear
        let w1 = first.weight.value.scalars.map(abs), b1 = first.bias.value.scalars.map(abs), w2 = second.weight.value.scalars.map(abs)
        for i in 0..<4 {
            let downstream = (0..<2).map { w2[$0 * 4 + i] }.reduce(0, +)
            let h = (0..<3).map { w1[i * 3 + $0] }.reduce(0, +) + b1[i]
            for k in 0..<3 { #expect(abs(scores["1.weight"]![i * 3 + k] - w1[i * 3 + k] * downstream) < 1e-5) }
            for j in 0..<2 { #expect(abs(scores["3.weight"]![j * 4 + i] - w2[j * 4 + i] * h) < 1e-5) }
        }
    }

    @Test func iterativeSynflowReachesTheSparsityWithoutEmptyingALayer() throws {
        let model = try Network(ModelSpec("cnn:1x8x8:c4-p-c8-p-f16-3"), seed: 7)
        let masks = try Saliency.synflowMasks(model, sparsity: 0.98, rounds: 20)
        #expect(abs(masks.sparsity - 0.98) < 0.002)
        for (name, mask) in masks.masks { #expect(mask.contains(true), "\(name) collapsed") }
    }

    @Test func fineTuningKeepsPrunedWeightsAtZeroAndLearns() throws {
        let model = try Network(ModelSpec("mlp:12-20-3"), seed: 8)
        let masks = PruningMasks.select(scores: Saliency.random(model, seed: 1), sparsity: 0.7, scope: .layerwise, within: .dense(model))
        let test = PruningTests.blobs(300, seed: 9)
        let tuner = FineTuner(train: PruningTests.blobs(600, seed: 10), test: test,
                              config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 1), normalization: nil, teachers: nil)
        let reports = try tuner.fit(model, masks: masks, epochs: 6)
        #expect(reports.count == 6)
        #expect(reports.last!.test!.accuracy > 0.9)
        #expect(PruningMasks.nonzero(model).kept <= masks.kept)
        for (name, parameter) in PruningMasks.prunable(model) {
            for (i, kept) in masks.masks[name]!.enumerated() where !kept { #expect(parameter.value.scalars[i] == 0) }
        }
    }

    @Test func gradualMagnitudePruningRampsUpToTheTarget() throws {
        let model = try Network(ModelSpec("mlp:12-20-3"), seed: 14)
        let tuner = FineTuner(train: PruningTests.blobs(600, seed: 15), test: PruningTests.blobs(300, seed: 16),
                              config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 3), normalization: nil, teachers: nil)
        let run = PruningRun(method: .globalMagnitude, sparsity: 0.9, finetuneEpochs: 6, seed: 1, gradual: true)
        let result = try run.run(model, tuner: tuner, sample: { Tensor(zeros: [0]) })
        #expect(abs(result.sparsity - 0.9) < 0.005)
        #expect(abs(PruningMasks.nonzero(result.model).sparsity - 0.9) < 0.01)
        #expect(Evaluation.run(result.model, on: tuner.test!, normalization: nil).accuracy > 0.9)
    }

    @Test func lotteryTicketRewindsAndPrunesOnSchedule() throws {
        let spec = try ModelSpec("mlp:12-20-3")
        let initial = try Network(spec, seed: 11)
        let tuner = FineTuner(train: PruningTests.blobs(600, seed: 12), test: PruningTests.blobs(300, seed: 13),
                              config: TrainingConfig(epochs: 1, batchSize: 32, learningRate: 0.01, seed: 2), normalization: nil, teachers: nil)
        let trained = try copy(initial)
        try tuner.fit(trained, masks: nil, epochs: 3)
        let ticket = LotteryTicket(sparsity: 0.8, rounds: 2, rewind: .initial, epochsPerRound: 3)
        #expect(try ticket.rewindWeights(initial: initial, tuner: tuner).namedParameters.map(\.parameter.value) == initial.namedParameters.map(\.parameter.value))
        let early = LotteryTicket(sparsity: 0.8, rounds: 2, rewind: .step(4), epochsPerRound: 3)
        let point = try early.rewindWeights(initial: initial, tuner: tuner), again = try early.rewindWeights(initial: initial, tuner: tuner)
        #expect(point.namedParameters.map(\.parameter.value) != initial.namedParameters.map(\.parameter.value))
        #expect(point.namedParameters.map(\.parameter.value) == again.namedParameters.map(\.parameter.value))
        var sparsities: [Double] = []
        let (model, masks) = try ticket.run(trained: trained, initial: initial, tuner: tuner) { _, m in sparsities.append(m.sparsity) }
        #expect(sparsities.count == 2)
        #expect(abs(sparsities[0] - (1 - 0.2.squareRoot())) < 0.01)
        #expect(abs(masks.sparsity - 0.8) < 0.005)
        #expect(PruningMasks.nonzero(model).kept <= masks.kept)
        #expect(Evaluation.run(model, on: tuner.test!, normalization: nil).accuracy > 0.9)
    }

    @Test(arguments: ["init", "0", "250"]) func rewindParses(text: String) throws {
        let rewind = try LotteryTicket.Rewind(text)
        #expect(rewind == (text == "250" ? .step(250) : .initial))
    }

    @Test func badRewindIsRejected() {
        #expect(throws: NeuralNetError.self) { try LotteryTicket.Rewind("soon") }
    }
}
