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
        let plain = try Network(ModelSpec("mlp:8-12-3"), seed: 9)
        Trainer(model: plain, config: config, normalization: nil).fit(data, test: nil)
        let student = try Network(ModelSpec("mlp:8-12-3"), seed: 9)
        let teacher = try Network(ModelSpec("mlp:8-5-3"), seed: 1)
        try Distiller(student: student, teachers: [teacher], config: config, normalization: nil, temperature: 4, alpha: 0).fit(data, test: nil)
        #expect(student.namedParameters.map(\.parameter.value) == plain.namedParameters.map(\.parameter.value))
    }

    /// With alpha = 1 the labels never reach the gradient: the student learns only what the teachers know.
    @Test func aStudentLearnsFromTheEnsembleAlone() throws {
        let train = TrainerTests.blobs(600, seed: 3), test = TrainerTests.blobs(300, seed: 9)
        let config = TrainingConfig(epochs: 6, batchSize: 16, optimizer: .adam, learningRate: 0.01, seed: 2)
        let teachers = try (0..<2).map { i -> Network in
            let t = try Network(ModelSpec("mlp:8-16-3"), seed: UInt64(10 + i))
            Trainer(model: t, config: config, normalization: nil).fit(train, test: nil)
            return t
        }
        for t in teachers { #expect(Evaluation.run(t, on: test, normalization: nil).accuracy > 0.95) }
        let student = try Network(ModelSpec("mlp:8-6-3"), seed: 5)
        let before = Evaluation.run(student, on: test, normalization: nil)
        let reports = try Distiller(student: student, teachers: teachers, config: config, normalization: nil,
                                    temperature: 3, alpha: 1).fit(train, test: test)
        #expect(reports.last!.test!.accuracy > 0.95, "\(reports.last!.test!)")
        #expect(reports.last!.test!.loss < before.loss / 2)
    }

    /// A source that records what it is asked for and gives up after `failAfter` batches.
    final class RecordingSource: SoftTargetSource {
        var asked: [(epoch: Int, positions: Range<Int>)] = []
        let failAfter: Int?
        private(set) var failure: String?
        private(set) var finished = false
        init(failAfter: Int? = nil) { self.failAfter = failAfter }
        func targets(for batch: TrainingBatch) -> Tensor? {
            if let failAfter, asked.count == failAfter {
                failure = "the cluster went away"
                return nil
            }
            asked.append((batch.epoch, batch.positions))
            return Softmax.probabilities(batch.logits, temperature: 2)
        }
        func finish() { finished = true }
    }

    @Test func aSourceIsAskedForEveryBatchByPositionAndItsFailureStopsTraining() throws {
        let data = TrainerTests.blobs(100, seed: 4)
        let config = TrainingConfig(epochs: 2, batchSize: 30, optimizer: .adam, learningRate: 0.01, seed: 3)
        let source = RecordingSource()
        let student = try Network(ModelSpec("mlp:8-6-3"), seed: 5)
        try Distiller(student: student, source: source, config: config, normalization: nil, temperature: 2, alpha: 0.5).fit(data, test: nil)
        #expect(source.asked.map(\.epoch) == [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(source.asked.prefix(4).map(\.positions) == [0..<30, 30..<60, 60..<90, 90..<100])
        #expect(source.finished)

        let failing = RecordingSource(failAfter: 3)
        let other = try Network(ModelSpec("mlp:8-6-3"), seed: 5)
        let before = other.namedParameters.map(\.parameter.value)
        var steps = 0
        let distiller = Distiller(student: other, source: failing, config: config, normalization: nil, temperature: 2, alpha: 0.5)
        distiller.afterStep = { steps += 1 }
        #expect(throws: DistillationError.self) { try distiller.fit(data, test: nil) }
        #expect(steps == 3 && failing.finished)
        #expect(other.namedParameters.map(\.parameter.value) != before)
    }

    /// Counts the samples it is asked about.
    final class CountingTeacher: Classifier {
        let inner: Network
        var samples = 0
        init(_ inner: Network) { self.inner = inner }
        var classes: Int { inner.classes }
        var inputSize: Int { inner.inputSize }
        var parameterCount: Int { inner.parameterCount }
        var summary: String { inner.summary }
        func logits(_ images: Tensor) -> Tensor {
            samples += images.shape[0]
            return inner.logits(images)
        }
    }

    @Test func withoutAugmentationTeachersRunOncePerSampleAndTheResultIsUnchanged() throws {
        let data = TrainerTests.blobs(90, seed: 4)
        let config = TrainingConfig(epochs: 3, batchSize: 20, optimizer: .adam, learningRate: 0.01, seed: 3)
        let teacher = CountingTeacher(try Network(ModelSpec("mlp:8-5-3"), seed: 1))
        let cached = try Network(ModelSpec("mlp:8-6-3"), seed: 5)
        try Distiller(student: cached, teachers: [teacher], config: config, normalization: nil, temperature: 2, alpha: 0.5).fit(data, test: nil)
        #expect(teacher.samples == 90)
        // The same distillation asking the teachers every time: the same weights, but for the last bits a teacher's
        // GEMM may round differently in batches of other samples.
        final class Uncached: SoftTargetSource {
            let inner: InProcessTeachers
            init(_ inner: InProcessTeachers) { self.inner = inner }
            func targets(for batch: TrainingBatch) -> Tensor? { try? inner.softTargets(batch.images) }
            var failure: String? { nil }
            func finish() {}
        }
        let fresh = try Network(ModelSpec("mlp:8-6-3"), seed: 5)
        try Distiller(student: fresh, source: Uncached(InProcessTeachers([teacher.inner], temperature: 2)), config: config,
                      normalization: nil, temperature: 2, alpha: 0.5).fit(data, test: nil)
        for (a, b) in zip(cached.namedParameters, fresh.namedParameters) {
            let gap = zip(a.parameter.value.scalars, b.parameter.value.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(gap < 1e-4, "\(a.name): cached and recomputed targets trained weights \(gap) apart")
        }
    }
}
