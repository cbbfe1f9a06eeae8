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
    /// op(self)(m, k) x op(other)(k, n) for rank-2 tensors on oneDNN.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false,
                       reference: Bool = false) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "matmul needs rank-2 tensors: \(shape) x \(other.shape)")
        let (m, k) = transposeSelf ? (shape[1], shape[0]) : (shape[0], shape[1])
        let (k2, n) = transposeOther ? (other.shape[1], other.shape[0]) : (other.shape[0], other.shape[1])
        precondition(k == k2, "matmul: inner dimensions differ: \(shape) x \(other.shape)")
        var out = Tensor(zeros: [m, n])
        guard m > 0, n > 0, k > 0 else { return out }
        scalars.withUnsafeBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                out.scalars.withUnsafeMutableBufferPointer { c in
                    let ta: Transpose = transposeSelf ? .transposed : .none
                    let tb: Transpose = transposeOther ? .transposed : .none
                    if reference {
                        ReferenceGEMM.sgemm(ta, tb, m: m, n: n, k: k, a: a.baseAddress!, lda: shape[1],
                                            b: b.baseAddress!, ldb: other.shape[1], c: c.baseAddress!, ldc: n)
                    } else {
                        GEMM.sgemm(ta, tb, m: m, n: n, k: k, a: a.baseAddress!, lda: shape[1],
                                   b: b.baseAddress!, ldb: other.shape[1], c: c.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return out
    }
}
