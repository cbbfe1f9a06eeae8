import CDNNL

/// Integer GEMM on oneDNN (VNNI where the processor has it): C(m, n) int32 = (op(A) - aZero) x op(B),
/// A uint8 with its zero point, B int8 (symmetric, zero point 0), row-major.
public enum Int8GEMM {
    /// Whether the processor multiplies int8 with VNNI. Without it oneDNN's int8 kernels can saturate: the GEMM
    /// below stays exact at twice the work, and oneDNN's int8 convolution (which halves the weights to avoid the
    /// saturation) is not used.
    public static let hasDotProductInstructions = cdnnl_has_int8_dot_product() != 0

    public static func u8s8s32(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        a: UnsafePointer<UInt8>, lda: Int, aZero: UInt8, b: UnsafePointer<Int8>, ldb: Int,
        c: UnsafeMutablePointer<Int32>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        let status = cdnnl_gemm_u8s8s32(transA.flag, transB.flag, Int64(m), Int64(n), Int64(k),
                                        a, Int64(lda), aZero, b, Int64(ldb), c, Int64(ldc))
        precondition(status == 0, "dnnl_gemm_u8s8s32 failed with status \(status) for m=\(m) n=\(n) k=\(k)")
    }

    /// The exact integer triple loop that tests hold `u8s8s32` against.
    public static func reference(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        a: UnsafePointer<UInt8>, lda: Int, aZero: UInt8, b: UnsafePointer<Int8>, ldb: Int,
        c: UnsafeMutablePointer<Int32>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Int32 = 0
                for p in 0..<k {
                    let av = Int32(transA == .none ? a[i * lda + p] : a[p * lda + i]) - Int32(aZero)
                    let bv = Int32(transB == .none ? b[p * ldb + j] : b[j * ldb + p])
                    sum += av * bv
                }
                c[i * ldc + j] = sum
            }
        }
    }
}
