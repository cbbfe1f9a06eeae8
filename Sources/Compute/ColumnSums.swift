/// Sums over the rows of a (rows, columns) matrix, as one GEMV on oneDNN: a plain loop over
/// closure-captured pointers did not vectorise and cost a tenth of a training step.
public enum ColumnSums {
    /// out(columns) = ones(rows) x m(rows, columns)
    public static func compute(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { out.update(repeating: 0, count: columns); return }
        let ones = [Float](repeating: 1, count: rows)
        ones.withUnsafeBufferPointer { o in
            GEMM.sgemm(.none, .none, m: 1, n: columns, k: rows, a: o.baseAddress!, lda: rows, b: m, ldb: columns,
                       c: out, ldc: columns)
        }
    }
}
