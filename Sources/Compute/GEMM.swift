import CDNNL

public enum Transpose: Sendable {
    case none, transposed
    var flag: CChar { self == .none ? CChar(UInt8(ascii: "N")) : CChar(UInt8(ascii: "T")) }
}

/// Single-precision GEMM on oneDNN: C(m, n) = alpha * op(A)(m, k) * op(B)(k, n) + beta * C, row-major.
/// lda/ldb/ldc are row strides of A, B and C as stored.
public enum GEMM {
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        let status = cdnnl_sgemm(transA.flag, transB.flag, Int64(m), Int64(n), Int64(k),
                                 alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        // A non-zero status means we passed inconsistent sizes: our bug, not the user's.
        precondition(status == 0, "dnnl_sgemm failed with status \(status) for m=\(m) n=\(n) k=\(k)")
    }
}

/// The obviously correct triple loop that tests hold `GEMM` against.
public enum ReferenceGEMM {
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(sum) + prior
            }
        }
    }
}

extension Tensor {
    /// op(self)(..., m, k) x op(other)(..., k, n) on oneDNN: rank 2, or equal batch axes in front of the last two
    /// (a transpose swaps the last two axes).
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false,
                       reference: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank == rank && shape.dropLast(2) == other.shape.dropLast(2),
                     "matmul needs equal batch axes: \(shape) x \(other.shape)")
        let (r, columns) = (shape[rank - 2], shape[rank - 1]), (r2, c2) = (other.shape[rank - 2], other.shape[rank - 1])
        let (m, k) = transposeSelf ? (columns, r) : (r, columns)
        let (k2, n) = transposeOther ? (c2, r2) : (r2, c2)
        precondition(k == k2, "matmul: inner dimensions differ: \(shape) x \(other.shape)")
        let batch = shape.dropLast(2).reduce(1, *)
        let outShape = Array(shape.dropLast(2)) + [m, n]
        guard batch > 0, m > 0, n > 0, k > 0 else { return Tensor(zeros: outShape) }
        if rank == 2 && !reference {
            var out = Tensor(zeros: outShape)
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    out.scalars.withUnsafeMutableBufferPointer { c in
                        GEMM.sgemm(transposeSelf ? .transposed : .none, transposeOther ? .transposed : .none, m: m, n: n, k: k,
                                   a: a.baseAddress!, lda: columns, b: b.baseAddress!, ldb: c2, c: c.baseAddress!, ldc: n)
                    }
                }
            }
            return out
        }
        let g = BatchedMatmul.Geometry(batch: batch, m: m, n: n, k: k, transposeA: transposeSelf, transposeB: transposeOther)
        let product = reference ? BatchedMatmul.reference(g, scalars, other.scalars) : BatchedMatmul.cached(g)(scalars, other.scalars)
        return Tensor(shape: outShape, scalars: product)
    }
}
