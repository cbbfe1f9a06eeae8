import Compute

/// Row-wise softmax functions over (rows, classes), stable by subtracting each row's maximum.
public enum Softmax {
    /// log softmax(z / temperature), row-wise.
    public static func logSoftmax(_ logits: Tensor, temperature: Float = 1) -> Tensor {
        precondition(logits.rank == 2, "logSoftmax expects (rows, classes), got \(logits.shape)")
        let classes = logits.shape[1]
        var out = logits
        out.scalars.withUnsafeMutableBufferPointer { p in
            for r in 0..<logits.shape[0] {
                let row = p.baseAddress! + r * classes
                var top = -Float.infinity
                for j in 0..<classes { row[j] /= temperature; top = max(top, row[j]) }
                var sum: Float = 0
                for j in 0..<classes { sum += expf(row[j] - top) }
                let logZ = top + logf(sum)
                for j in 0..<classes { row[j] -= logZ }
            }
        }
        return out
    }

    /// softmax(z / temperature), row-wise.
    public static func probabilities(_ logits: Tensor, temperature: Float = 1) -> Tensor {
        var out = logSoftmax(logits, temperature: temperature)
        out.scalars.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = expf(p[i]) }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
