import Compute
import Datasets
import NeuralNet
import Testing
@testable import Training

@Suite struct DistillerTests {
    /// With alpha = 0 the distillation loss is plain cross-entropy: weights must match hard-label training bit for bit.
    @Test func alphaZeroIsHardLabelTraining() throws {
        let data = TrainerTests.blobs(200, seed: 4)
        let config = TrainingConfig(epochs: 2, batchSize: 20, optimizer: .sgd, learningRate: 0.05, seed: 3)
        let plain = try Sequential(ModelSpec("mlp:8-12-3"), seed: 9)
        Trainer(model: plain, config: config, normalization: nil).fit(data, test: nil)
        let student = try Sequential(ModelSpec("mlp:8-12-3"), seed: 9)
        let teacher = try Sequential(ModelSpec("mlp:8-5-3"), seed: 1)
        Distiller(student: student, teachers: [teacher], config: config, normalization: nil, temperature: 4, alpha: 0).fit(data, test: nil)
        #expect(student.namedParameters.map(\.parameter.value) == plain.namedParameters.map(\.parameter.value))
    }

    /// With alpha = 1 the labels never reach the gradient: the student learns only what the teachers know.
    @Test func aStudentLearnsFromTheEnsembleAlone() throws {
        let train = TrainerTests.blobs(600, seed: 3), test = TrainerTests.blobs(300, seed: 9)
        let config = TrainingConfig(epochs: 6, batchSize: 16, optimizer: .adam, learningRate: 0.01, seed: 2)
        let teachers = try (0..<2).map { i -> Sequential in
            let t = try Sequential(ModelSpec("mlp:8-16-3"), seed: UInt64(10 + i))
            Trainer(model: t, config: config, normalization: nil).fit(train, test: nil)
            return t
        }
        for t in teachers { #expect(Evaluation.run(t, on: test, normalization: nil).accuracy > 0.95) }
        let student = try Sequential(ModelSpec("mlp:8-6-3"), seed: 5)
        let before = Evaluation.run(student, on: test, normalization: nil)
        let reports = Distiller(student: student, teachers: teachers, config: config, normalization: nil,
                                temperature: 3, alpha: 1).fit(train, test: test)
        #expect(reports.last!.test!.accuracy > 0.95, "\(reports.last!.test!)")
        #expect(reports.last!.test!.loss < before.loss / 2)
    }
}
