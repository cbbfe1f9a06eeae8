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

    /// student: (batch, classes) logits; teacher: (batch, classes) logits or probabilities; labels: (batch).
    public func compute(student: Tensor, teacher: Tensor, labels: [Int32]) -> Result {
        precondition(student.shape == teacher.shape, "distillation: student \(student.shape) != teacher \(teacher.shape)")
        let batch = student.shape[0], classes = student.shape[1]
        let t = temperature
        let teacherProbs = teacherForm == .logits ? Softmax.probabilities(teacher, temperature: t) : teacher
        let studentLogProbs = Softmax.logSoftmax(student, temperature: t)
        let ce = CrossEntropy.compute(logits: student, labels: labels)
        var kl: Double = 0
        var grad = ce.gradient
        // d/dz [alpha T^2 KL] = alpha * T * (p_student_T - p_teacher_T) / batch
        let klScale = alpha * t / Float(batch)
        for i in 0..<(batch * classes) {
            let p = teacherProbs.scalars[i], logQ = studentLogProbs.scalars[i]
            if p > 0 { kl += Double(p) * (Double(logf(p)) - Double(logQ)) }
            grad.scalars[i] = (1 - alpha) * grad.scalars[i] + klScale * (expf(logQ) - p)
        }
        let klMean = Float(kl / Double(batch))
        let total = alpha * t * t * klMean + (1 - alpha) * ce.loss
        return Result(loss: total, kl: klMean, crossEntropy: ce.loss, gradient: grad)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
