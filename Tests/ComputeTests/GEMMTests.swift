import Testing
@testable import Compute

@Suite struct GEMMTests {
    private func random(_ n: Int, _ rng: inout SeededRandom) -> [Float] { (0..<n).map { _ in rng.nextFloat() * 2 - 1 } }

    @Test(arguments: [(Transpose.none, Transpose.none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed)])
    func oneDNNMatchesTheReference(_ transA: Transpose, _ transB: Transpose) {
        var rng = SeededRandom(seed: 11)
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (64, 33, 129), (128, 10, 1200)] {
            let a = random(m * k, &rng), b = random(k * n, &rng), c0 = random(m * n, &rng)
            let lda = transA == .none ? k : m, ldb = transB == .none ? n : k
            var fast = c0, slow = c0
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
                fast.withUnsafeMutableBufferPointer { cp in
                    GEMM.sgemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                               b: bp.baseAddress!, ldb: ldb, beta: 2, c: cp.baseAddress!, ldc: n)
                }
                slow.withUnsafeMutableBufferPointer { cp in
                    ReferenceGEMM.sgemm(transA, transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                                        b: bp.baseAddress!, ldb: ldb, beta: 2, c: cp.baseAddress!, ldc: n)
                }
            } }
            let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-4 * Float(k).squareRoot(), "m=\(m) n=\(n) k=\(k): max error \(worst)")
        }
    }

    @Test func tensorMatmulAgreesWithReferenceAndHandlesEmptyInner() {
        var rng = SeededRandom(seed: 3)
        let a = Tensor(shape: [5, 7], scalars: random(35, &rng)), b = Tensor(shape: [4, 7], scalars: random(28, &rng))
        let fast = a.matmul(b, transposeOther: true), slow = a.matmul(b, transposeOther: true, reference: true)
        #expect(fast.shape == [5, 4])
        #expect(zip(fast.scalars, slow.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let empty = Tensor(zeros: [3, 0]).matmul(Tensor(zeros: [0, 2]))
        #expect(empty == Tensor(zeros: [3, 2]))
    }

    @Test func threadCountIsASetting() {
        ComputeThreads.set(1)
        #expect(ComputeThreads.current == 1)
        ComputeThreads.set(2)
        #expect(ComputeThreads.current == 2)
        #expect(ComputeThreads.backendVersion.hasPrefix("2."))
    }
}
