import Compute

/// A loss value with its gradient with respect to the logits it was given.
public struct LossResult {
    public var loss: Float
    public var gradient: Tensor
}

/// Mean cross-entropy of logits (batch, classes) against integer labels.
public enum CrossEntropy {
    public static func compute(logits: Tensor, labels: [Int32]) -> LossResult {
        let batch = logits.shape[0], classes = logits.shape[1]
        precondition(labels.count == batch, "cross-entropy: \(labels.count) labels for \(batch) rows")
        var grad = Softmax.logSoftmax(logits)
        var total: Double = 0
        let scale = 1 / Float(batch)
        grad.scalars.withUnsafeMutableBufferPointer { p in
            for r in 0..<batch {
                let row = p.baseAddress! + r * classes
                let label = Int(labels[r])
                precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
                total -= Double(row[label])
                for j in 0..<classes { row[j] = expf(row[j]) * scale }
                row[label] -= scale
            }
        }
        return LossResult(loss: Float(total / Double(batch)), gradient: grad)
    }
}

/// Hinton et al.'s distillation loss:
/// alpha * T^2 * KL(p_teacher_T || p_student_T) + (1 - alpha) * CE(student, label), averaged over the batch.
/// The T^2 factor keeps the soft-target gradient on the scale of the hard-label one.
public struct DistillationLoss: Sendable {
    /// How the teacher's outputs arrive: raw logits (tempered here) or probabilities already at temperature T.
    public enum TeacherForm: String, Sendable { case logits, probabilities }

    public var alpha: Float
    public var temperature: Float
    public var teacherForm: TeacherForm

    public init(alpha: Float, temperature: Float, teacherForm: TeacherForm = .logits) {
        self.alpha = alpha; self.temperature = temperature; self.teacherForm = teacherForm
    }

    /// The KL and CE parts as well as the total, for progress reports.
    public struct Result {
        public var loss: Float, kl: Float, crossEntropy: Float
        public var gradient: Tensor
    }

    /// student: (batch, classes) logits; teacher: (batch, classes) logits or probabilities, or (batch, classes + 1)
    /// top-k probabilities with the tail (`TopKCodec`: 0 for a class in the tail, the tail's mass last); labels: (batch).
    public func compute(student: Tensor, teacher: Tensor, labels: [Int32]) -> Result {
        let batch = student.shape[0], classes = student.shape[1]
        let withTail = teacherForm == .probabilities && teacher.shape == [batch, classes + 1]
        precondition(withTail || student.shape == teacher.shape, "distillation: student \(student.shape) != teacher \(teacher.shape)")
        let t = temperature
        let teacherProbs = teacherForm == .logits ? Softmax.probabilities(teacher, temperature: t) : teacher
        let studentLogProbs = Softmax.logSoftmax(student, temperature: t)
        let ce = CrossEntropy.compute(logits: student, labels: labels)
        var kl: Double = 0
        var grad = ce.gradient
        // d/dz [alpha T^2 KL] = alpha * T * (p_student_T - p_teacher_T) / batch
        let klScale = alpha * t / Float(batch)
        if withTail {
            for r in 0..<batch { kl += tailRow(r, classes: classes, teacher: teacherProbs, studentLogProbs: studentLogProbs, grad: &grad, klScale: klScale) }
        } else {
            for i in 0..<(batch * classes) {
                let p = teacherProbs.scalars[i], logQ = studentLogProbs.scalars[i]
                if p > 0 { kl += Double(p) * (Double(logf(p)) - Double(logQ)) }
                grad.scalars[i] = (1 - alpha) * grad.scalars[i] + klScale * (expf(logQ) - p)
            }
        }
        let klMean = Float(kl / Double(batch))
        let total = alpha * t * t * klMean + (1 - alpha) * ce.loss
        return Result(loss: total, kl: klMean, crossEntropy: ce.loss, gradient: grad)
    }

    /// One row's KL over the k + 1 buckets: the classes the teacher sent, and the tail (the rest, one bucket, mass
    /// P). The student's tail is Q = the sum of its probabilities there; its gradient is the dense one against a
    /// teacher that spreads P over the tail in the student's own proportions (p_j = P q_j / Q).
    private func tailRow(_ r: Int, classes: Int, teacher: Tensor, studentLogProbs: Tensor, grad: inout Tensor, klScale: Float) -> Double {
        let p = teacher.scalars[(r * (classes + 1))..<((r + 1) * (classes + 1))]
        let base = p.startIndex
        let tailMass = p[base + classes]
        var studentTail = 0.0, kl = 0.0
        for j in 0..<classes where p[base + j] == 0 { studentTail += Double(expf(studentLogProbs.scalars[r * classes + j])) }
        let spread = studentTail > 0 ? Float(Double(tailMass) / studentTail) : 0
        for j in 0..<classes {
            let i = r * classes + j
            let pj = p[base + j], logQ = studentLogProbs.scalars[i], q = expf(logQ)
            if pj > 0 { kl += Double(pj) * (Double(logf(pj)) - Double(logQ)) }
            let target = pj > 0 ? pj : spread * q
            grad.scalars[i] = (1 - alpha) * grad.scalars[i] + klScale * (q - target)
        }
        if tailMass > 0 && studentTail > 0 { kl += Double(tailMass) * (log(Double(tailMass)) - log(studentTail)) }
        return kl
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
