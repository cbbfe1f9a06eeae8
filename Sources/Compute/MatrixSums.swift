/// Sums along the rows or the columns of a row-major matrix, each as one GEMV on oneDNN: plain loops over
/// closure-captured pointers did not vectorise and cost a tenth of a training step (bias gradients).
public enum MatrixSums {
    /// out(columns) = ones(rows) x m(rows, columns): Linear's bias gradient over the batch.
    public static func columns(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { out.update(repeating: 0, count: columns); return }
        let ones = [Float](repeating: 1, count: rows)
        ones.withUnsafeBufferPointer { o in
            GEMM.sgemm(.none, .none, m: 1, n: columns, k: rows, a: o.baseAddress!, lda: rows, b: m, ldb: columns,
                       c: out, ldc: columns)
        }
    }

    /// out(rows) = m(rows, columns) x ones(columns): Conv2d's bias gradient over batch and positions.
    public static func rows(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        guard columns > 0 else { out.update(repeating: 0, count: rows); return }
        let ones = [Float](repeating: 1, count: columns)
        ones.withUnsafeBufferPointer { o in
            GEMM.sgemm(.none, .none, m: rows, n: 1, k: columns, a: m, lda: columns, b: o.baseAddress!, ldb: 1,
                       c: out, ldc: 1)
        }
    }
}
