import Testing
import Dispatch
@testable import Compute

@Test func tmpGemmTiming() {
    ComputeThreads.set(2)
    let dy = [Float](repeating: 0.5, count: 128 * 1200), x = [Float](repeating: 0.25, count: 128 * 784)
    var dw = [Float](repeating: 0, count: 1200 * 784), db = [Float](repeating: 0, count: 1200)
    var junk = [Float](repeating: 1, count: 8_000_000)
    var t1: [Double] = [], t2: [Double] = []
    for _ in 0..<30 {
        for i in stride(from: 0, to: junk.count, by: 16) { junk[i] += 1 }  // evict caches
        let s = DispatchTime.now().uptimeNanoseconds
        dy.withUnsafeBufferPointer { g in x.withUnsafeBufferPointer { xp in dw.withUnsafeMutableBufferPointer { d in
            GEMM.sgemm(.transposed, .none, m: 1200, n: 784, k: 128, a: g.baseAddress!, lda: 1200, b: xp.baseAddress!, ldb: 784, c: d.baseAddress!, ldc: 784)
        } } }
        let m = DispatchTime.now().uptimeNanoseconds
        dy.withUnsafeBufferPointer { g in db.withUnsafeMutableBufferPointer { d in
            ColumnSums.compute(g.baseAddress!, rows: 128, columns: 1200, into: d.baseAddress!)
        } }
        let e = DispatchTime.now().uptimeNanoseconds
        t1.append(Double(m - s) / 1e3); t2.append(Double(e - m) / 1e3)
    }
    print("TIMING cold dW1 \(t1.sorted()[15]) us, column sums \(t2.sorted()[15]) us")
}
