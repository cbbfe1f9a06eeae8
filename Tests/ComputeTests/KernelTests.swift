import Testing
@testable import Compute

@Suite struct KernelTests {
    private func random(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in rng.nextFloat() * 2 - 1 }
    }

    /// col2im must be the exact adjoint of im2col: <im2col(x), c> == <x, col2im(c)>.
    @Test(arguments: [(3, 1, 1), (3, 2, 0), (5, 1, 2), (2, 2, 0)])
    func col2imIsTheAdjointOfIm2col(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(batch: 2, channels: 3, height: 7, width: 6, kernel: kernel, stride: stride, padding: padding)
        let x = random(2 * 3 * 7 * 6, seed: 1), c = random(g.patchSize * g.columnCount, seed: 2)
        var cols = [Float](repeating: 0, count: c.count), back = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in cols.withUnsafeMutableBufferPointer { Im2Col.forward(g, x: xp.baseAddress!, cols: $0.baseAddress!) } }
        c.withUnsafeBufferPointer { cp in back.withUnsafeMutableBufferPointer { Im2Col.backward(g, cols: cp.baseAddress!, dx: $0.baseAddress!) } }
        let lhs = zip(cols, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
    }

    @Test func maxPoolPicksEachWindowsMaximumAndRoutesGradientsThere() {
        let g = ConvGeometry(batch: 1, channels: 2, height: 4, width: 4, kernel: 2, stride: 2)
        let x = random(32, seed: 5)
        var y = [Float](repeating: 0, count: 8), argmax = [Int32](repeating: 0, count: 8)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in argmax.withUnsafeMutableBufferPointer {
            MaxPoolKernel.forward(g, x: xp.baseAddress!, y: yp.baseAddress!, argmax: $0.baseAddress!)
        } } }
        for c in 0..<2 { for oy in 0..<2 { for ox in 0..<2 {
            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { x[c * 16 + (oy * 2 + $0.0) * 4 + ox * 2 + $0.1] }
            #expect(y[c * 4 + oy * 2 + ox] == window.max()!)
            #expect(x[Int(argmax[c * 4 + oy * 2 + ox])] == window.max()!)
        } } }
        var dx = [Float](repeating: 0, count: 32)
        let dy = [Float](repeating: 1, count: 8)
        dy.withUnsafeBufferPointer { d in argmax.withUnsafeBufferPointer { a in dx.withUnsafeMutableBufferPointer {
            MaxPoolKernel.backward(g, dy: d.baseAddress!, argmax: a.baseAddress!, dx: $0.baseAddress!)
        } } }
        #expect(dx.reduce(0, +) == 8)
        #expect(dx.filter { $0 != 0 }.count == 8)
    }

    @Test func seededStreamsAreReproducibleAndIndependent() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let sa = (0..<100).map { _ in a.next() }, sb = (0..<100).map { _ in b.next() }, sc = (0..<100).map { _ in c.next() }
        #expect(sa == sb)
        #expect(sa != sc)
        var s1 = SeededRandom(seed: 42, stream: 1), s2 = SeededRandom(seed: 42, stream: 2)
        #expect(s1.next() != s2.next())
    }

    @Test func permutationsAndBoundedIntegersAreWellFormed() {
        var rng = SeededRandom(seed: 9)
        let p = rng.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[rng.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 600 }, "\(counts)")
        let floats = (0..<10_000).map { _ in rng.nextFloat() }
        #expect(floats.allSatisfy { $0 >= 0 && $0 < 1 })
        let gaussians = (0..<20_000).map { _ in Double(rng.nextGaussian()) }
        let mean = gaussians.reduce(0, +) / 20_000
        let variance = gaussians.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.05)
    }
}
