import Compute
import Foundation
import Testing
@testable import NeuralNet

@Suite struct LossTests {
    let logits = GradientCheck.randomTensor([4, 6], seed: 21, scale: 3)
    let labels: [Int32] = [0, 5, 2, 2]

    /// log-softmax in Double, straight from the definition.
    private func naiveLogSoftmax(_ z: [Float], temperature: Double) -> [Double] {
        let s = z.map { Double($0) / temperature }
        let logZ = log(s.map { exp($0) }.reduce(0, +))
        return s.map { $0 - logZ }
    }

    @Test func logSoftmaxMatchesTheDefinitionAndStaysFiniteForHugeLogits() {
        for t: Float in [1, 4] {
            let fast = Softmax.logSoftmax(logits, temperature: t)
            for r in 0..<4 {
                let row = Array(logits.scalars[(r * 6)..<(r * 6 + 6)])
                let reference = naiveLogSoftmax(row, temperature: Double(t))
                for j in 0..<6 { #expect(abs(Double(fast.scalars[r * 6 + j]) - reference[j]) < 1e-5) }
            }
        }
        let huge = Tensor(shape: [1, 3], scalars: [1e4, -1e4, 0])
        let p = Softmax.probabilities(huge)
        #expect(p.scalars.allSatisfy { $0.isFinite })
        #expect(abs(p.scalars.reduce(0, +) - 1) < 1e-6 && p.scalars[0] == 1)
        #expect(Softmax.logSoftmax(huge).scalars.allSatisfy { $0.isFinite })
    }

    @Test func crossEntropyValueAndGradient() {
        let result = CrossEntropy.compute(logits: logits, labels: labels)
        var expected = 0.0
        for r in 0..<4 {
            expected -= naiveLogSoftmax(Array(logits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: 1)[Int(labels[r])]
        }
        #expect(abs(Double(result.loss) - expected / 4) < 1e-5)
        let bad = GradientCheck.checkLoss(logits) { z in
            let r = CrossEntropy.compute(logits: z, labels: labels)
            return (r.loss, r.gradient)
        }
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test(arguments: [DistillationLoss.TeacherForm.logits, .probabilities])
    func distillationValueAndGradient(form: DistillationLoss.TeacherForm) {
        let teacherLogits = GradientCheck.randomTensor([4, 6], seed: 22, scale: 4)
        let t: Float = 3, alpha: Float = 0.7
        let teacher = form == .logits ? teacherLogits : Softmax.probabilities(teacherLogits, temperature: t)
        let loss = DistillationLoss(alpha: alpha, temperature: t, teacherForm: form)
        let result = loss.compute(student: logits, teacher: teacher, labels: labels)
        // Reference: KL(p || q) at temperature T from the definition, in Double.
        var kl = 0.0, ce = 0.0
        for r in 0..<4 {
            let p = naiveLogSoftmax(Array(teacherLogits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: Double(t)).map(exp)
            let logQ = naiveLogSoftmax(Array(logits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: Double(t))
            kl += zip(p, logQ).reduce(0) { $0 + $1.0 * (log($1.0) - $1.1) }
            ce -= naiveLogSoftmax(Array(logits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: 1)[Int(labels[r])]
        }
        let expected = Double(alpha) * Double(t * t) * kl / 4 + Double(1 - alpha) * ce / 4
        #expect(abs(Double(result.loss) - expected) < 1e-4 * max(1, expected))
        #expect(abs(Double(result.kl) - kl / 4) < 1e-5)
        let bad = GradientCheck.checkLoss(logits) { z in
            let r = loss.compute(student: z, teacher: teacher, labels: labels)
            return (r.loss, r.gradient)
        }
        #expect(bad.isEmpty, "\(bad.prefix(5))")
    }

    @Test func distillationWithMatchingTeacherLeavesOnlyCrossEntropy() {
        let loss = DistillationLoss(alpha: 0.5, temperature: 2)
        let result = loss.compute(student: logits, teacher: logits, labels: labels)
        #expect(abs(result.kl) < 1e-6)
        #expect(abs(result.loss - 0.5 * CrossEntropy.compute(logits: logits, labels: labels).loss) < 1e-5)
        let pure = DistillationLoss(alpha: 1, temperature: 2).compute(student: logits, teacher: logits, labels: labels)
        #expect(pure.gradient.scalars.allSatisfy { abs($0) < 1e-6 })
    }

    /// Top-k targets with the tail: the KL over the k + 1 buckets (the kept classes, and the rest as one) from its
    /// definition in Double, its gradient against finite differences; with every class kept it is the dense loss.
    @Test(arguments: [1, 2, 4])
    func distillationOverTopKBucketsAndTheTail(k: Int) {
        let t: Float = 2, alpha: Float = 0.8
        let teacher = Softmax.probabilities(GradientCheck.randomTensor([4, 6], seed: 23, scale: 4), temperature: t)
        var bucketed = [Float](repeating: 0, count: 4 * 7)
        var kl = 0.0, ce = 0.0
        for r in 0..<4 {
            let p = Array(teacher.scalars[(r * 6)..<(r * 6 + 6)])
            let kept = p.indices.sorted { p[$0] > p[$1] }.prefix(k)
            var tail = 1.0
            for c in kept { bucketed[r * 7 + c] = p[c]; tail -= Double(p[c]) }
            bucketed[r * 7 + 6] = Float(tail)
            let logQ = naiveLogSoftmax(Array(logits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: Double(t))
            for c in kept { kl += Double(p[c]) * (log(Double(p[c])) - logQ[c]) }
            let studentTail = (0..<6).filter { !kept.contains($0) }.reduce(0.0) { $0 + exp(logQ[$1]) }
            kl += tail * (log(tail) - log(studentTail))
            ce -= naiveLogSoftmax(Array(logits.scalars[(r * 6)..<(r * 6 + 6)]), temperature: 1)[Int(labels[r])]
        }
        let targets = Tensor(shape: [4, 7], scalars: bucketed)
        let loss = DistillationLoss(alpha: alpha, temperature: t, teacherForm: .probabilities)
        let result = loss.compute(student: logits, teacher: targets, labels: labels)
        #expect(abs(Double(result.kl) - kl / 4) < 1e-5, "\(result.kl) vs \(kl / 4)")
        let expected = Double(alpha) * Double(t * t) * kl / 4 + Double(1 - alpha) * ce / 4
        #expect(abs(Double(result.loss) - expected) < 1e-4 * max(1, expected))
        let bad = GradientCheck.checkLoss(logits) { z in
            let r = loss.compute(student: z, teacher: targets, labels: labels)
            return (r.loss, r.gradient)
        }
        #expect(bad.isEmpty, "\(bad.prefix(5))")
        // Every class kept, nothing in the tail: the dense loss.
        var full = [Float](repeating: 0, count: 4 * 7)
        for r in 0..<4 { for c in 0..<6 { full[r * 7 + c] = teacher.scalars[r * 6 + c] } }
        let dense = loss.compute(student: logits, teacher: teacher, labels: labels)
        let allKept = loss.compute(student: logits, teacher: Tensor(shape: [4, 7], scalars: full), labels: labels)
        #expect(abs(dense.loss - allKept.loss) < 1e-6 && zip(dense.gradient.scalars, allKept.gradient.scalars).allSatisfy { abs($0 - $1) < 1e-7 })
    }
}
