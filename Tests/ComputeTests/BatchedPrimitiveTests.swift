import Foundation
import Testing
@testable import Compute

/// The attention primitives against plain loops: batched matmul (every transpose, scale, causal mask), row softmax
/// and its backward, axis permutations.
@Suite struct BatchedPrimitiveTests {
    private func random(_ n: Int, _ rng: inout SeededRandom) -> [Float] { (0..<n).map { _ in rng.nextFloat() * 2 - 1 } }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func batchedMatmulMatchesTheReference(_ transposeA: Bool, _ transposeB: Bool) {
        var rng = SeededRandom(seed: 5)
        for (batch, m, n, k) in [(1, 1, 1, 1), (3, 5, 7, 4), (8, 16, 16, 12), (2, 33, 9, 65)] {
            let g = BatchedMatmul.Geometry(batch: batch, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, alpha: 0.25)
            let a = random(batch * m * k, &rng), b = random(batch * k * n, &rng)
            let fast = BatchedMatmul.cached(g)(a, b), slow = BatchedMatmul.reference(g, a, b)
            let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5 * Float(k).squareRoot() + 1e-6, "\(g): max error \(worst)")
        }
    }

    @Test func causalMaskIsMinusInfinityAboveTheDiagonalOnly() {
        var rng = SeededRandom(seed: 6)
        let g = BatchedMatmul.Geometry(batch: 4, m: 6, n: 6, k: 3, transposeB: true, alpha: 0.5, causal: true)
        let a = random(4 * 6 * 3, &rng), b = random(4 * 6 * 3, &rng)
        let fast = BatchedMatmul.cached(g)(a, b), slow = BatchedMatmul.reference(g, a, b)
        for (index, (x, y)) in zip(fast, slow).enumerated() {
            let row = (index / 6) % 6, column = index % 6
            if column > row { #expect(x == -.infinity && y == -.infinity, "[\(index)] masked") } else { #expect(abs(x - y) < 1e-5) }
        }
        #expect(BatchedMatmul(.init(batch: 1, m: 2, n: 3, k: 1, causal: true)) == nil, "a causal mask needs square scores")
    }

    @Test func rowSoftmaxAndItsBackwardMatchTheFormulas() {
        var rng = SeededRandom(seed: 7)
        let rows = 9, columns = 13
        var x = random(rows * columns, &rng).map { $0 * 5 }
        x[3] = -.infinity  // a masked score
        let softmax = RowSoftmax.cached(rows: rows, columns: columns)
        let y = softmax.forward(x), dy = random(rows * columns, &rng)
        let dx = softmax.backward(output: y, gradient: dy)
        for r in 0..<rows {
            let range = (r * columns)..<((r + 1) * columns)
            let peak = x[range].max()!, total = x[range].reduce(0.0) { $0 + exp(Double($1 - peak)) }
            let dot = range.reduce(0.0) { $0 + Double(y[$1]) * Double(dy[$1]) }
            for i in range {
                #expect(abs(Double(y[i]) - exp(Double(x[i] - peak)) / total) < 1e-6)
                #expect(abs(Double(dx[i]) - Double(y[i]) * (Double(dy[i]) - dot)) < 1e-5)
            }
        }
        #expect(y[3] == 0 && dx[3] == 0)
    }

    @Test func permutationMovesEveryElementWhereItsStridesSay() {
        // (2, 3, 4) stored densely, read as its (1, 0, 2) transpose: y[j][i][k] = x[i][j][k].
        let x = (0..<24).map(Float.init)
        let g = AxisPermutation.Geometry(dimensions: [2, 3, 4], sourceStrides: [12, 4, 1], destinationStrides: [4, 8, 1])
        let y = AxisPermutation.cached(g)(x)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(y[j * 8 + i * 4 + k] == x[i * 12 + j * 4 + k]) } } }
    }

    @Test func tensorMatmulTakesBatchAxes() {
        var rng = SeededRandom(seed: 8)
        let a = Tensor(shape: [2, 3, 4, 5], scalars: random(120, &rng)), b = Tensor(shape: [2, 3, 6, 5], scalars: random(180, &rng))
        let fast = a.matmul(b, transposeOther: true), slow = a.matmul(b, transposeOther: true, reference: true)
        #expect(fast.shape == [2, 3, 4, 6])
        #expect(zip(fast.scalars, slow.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}
