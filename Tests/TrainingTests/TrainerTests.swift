import Compute
import Datasets
import NeuralNet
import Testing
import TestSupport
@testable import Training

@Suite struct TrainerTests {
    /// Three Gaussian clusters in 8 dimensions: easy to separate, impossible to fit by chance.
    static func blobs(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = SeededRandom(seed: seed)
        var pixels: [Float] = [], labels: [Int32] = []
        for i in 0..<n {
            let label = i % 3
            for d in 0..<8 { pixels.append((d % 3 == label ? 1.5 : 0) + 0.5 * rng.nextGaussian()) }
            labels.append(Int32(label))
        }
        return LabeledImages(images: Tensor(shape: [n, 8], scalars: pixels), labels: labels)
    }

    @Test(arguments: [TrainingConfig.OptimizerKind.sgd, .adam])
    func learnsASeparableProblem(optimizer: TrainingConfig.OptimizerKind) throws {
        let model = try Network(ModelSpec("mlp:8-16-3"), seed: 1)
        let config = TrainingConfig(epochs: 8, batchSize: 16, optimizer: optimizer,
                                    learningRate: optimizer == .sgd ? 0.05 : 0.01, seed: 2)
        let test = TrainerTests.blobs(300, seed: 9)
        let before = Evaluation.run(model, on: test, normalization: nil)
        let reports = Trainer(model: model, config: config, normalization: nil).fit(TrainerTests.blobs(600, seed: 3), test: test)
        #expect(reports.count == 8)
        #expect(reports.last!.trainLoss < reports.first!.trainLoss)
        #expect(reports.last!.test!.accuracy > 0.95, "\(reports.last!.test!)")
        #expect(before.loss > 2 * reports.last!.test!.loss)
    }

    @Test func runsAreBitReproducibleFromTheSeed() throws {
        func train() throws -> [Tensor] {
            let model = try Network(ModelSpec("cnn:1x6x6:c4bn-p-d0.2-3"), seed: 7)
            var rng = SeededRandom(seed: 1)
            let data = LabeledImages(images: Tensor(shape: [40, 1, 6, 6], scalars: (0..<1440).map { _ in rng.nextFloat() }),
                                     labels: (0..<40).map { Int32($0 % 3) })
            let config = TrainingConfig(epochs: 2, batchSize: 8, optimizer: .sgd, learningRate: 0.1, nesterov: true, seed: 3,
                                        augmentation: Augmentation(translate: 1, horizontalFlip: true))
            Trainer(model: model, config: config, normalization: nil).fit(data, test: nil)
            return model.namedParameters.map(\.parameter.value)
        }
        #expect(try train() == train())
    }

    @Test func stopsCleanlyWhenAsked() throws {
        let model = try Network(ModelSpec("mlp:8-4-3"), seed: 1)
        var steps = 0
        let reports = Trainer(model: model, config: TrainingConfig(epochs: 5, batchSize: 10), normalization: nil)
            .fit(TrainerTests.blobs(100, seed: 1), test: nil, shouldStop: { steps >= 25 }, onStep: { _ in steps += 1 })
        #expect(steps == 25)
        #expect(reports.count == 2)
    }

    @Test func learnsFashionMNISTFromASlice() throws {
        guard try TestSupport.fashionMNIST() != nil else { return }
        let split = try DataSource("fashion-mnist").load()
        let train = split.train.prefix(4000), test = split.test.prefix(1000)
        let model = try Network(ModelSpec("cnn:1x28x28:c8bn-p-c16bn-p-f32-10"), seed: 1)
        let config = TrainingConfig(epochs: 2, batchSize: 64, optimizer: .adam, learningRate: 2e-3, seed: 1)
        let reports = Trainer(model: model, config: config, normalization: Normalization.fitted(to: train)).fit(train, test: test)
        #expect(reports.last!.test!.accuracy > 0.75, "\(reports.last!.test!)")
    }
}
