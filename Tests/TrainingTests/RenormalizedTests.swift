import Compute
import Datasets
import NeuralNet
import Testing
@testable import Training

/// A teacher trained on other inputs (an ONNX model reading raw pixels) sees exactly its own preprocessing.
@Suite struct RenormalizedTests {
    /// Returns its input as the scores: what the adapter hands the model is visible.
    final class Echo: Classifier {
        var classes: Int { 3 }
        var inputSize: Int { 3 }
        var parameterCount: Int { 0 }
        var summary: String { "echo" }
        func logits(_ images: Tensor) -> Tensor { images }
    }

    @Test func theModelSeesItsOwnNormalisationOfTheRawPixels() throws {
        let raw: [Float] = [0, 0.25, 1, 0.5, 0.75, 0.1]
        let student = Normalization(mean: [0.5], std: [2]), teacher = Normalization(mean: [0.1], std: [0.5])
        var batch = Tensor(shape: [2, 3], scalars: raw)
        student.apply(to: &batch)
        let adapted = Renormalized.adapt(Echo(), from: student, to: teacher)
        let seen = try adapted.logits(batch).scalars
        for (s, r) in zip(seen, raw) { #expect(abs(s - (r - 0.1) / 0.5) < 1e-6) }
        let rawTeacher = try Renormalized.adapt(Echo(), from: student, to: nil).logits(batch).scalars
        for (s, r) in zip(rawTeacher, raw) { #expect(abs(s - r) < 1e-6) }
        let same = Echo()
        #expect(Renormalized.adapt(same, from: student, to: student) === same)
    }
}
