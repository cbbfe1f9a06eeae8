/// Vectorised elementwise kernels. Explicit SIMD: the plain loops did not auto-vectorise.
public enum Elementwise {
    public typealias Vector = SIMD16<Float>

    /// y[i] = max(x[i], 0), in place.
    public static func relu(_ x: UnsafeMutableBufferPointer<Float>) {
        let base = UnsafeMutableRawPointer(x.baseAddress!)
        Parallel.forEachChunk(x.count) { range in
            var i = range.lowerBound
            while i + Vector.scalarCount <= range.upperBound {
                let p = base + i * 4
                let v = p.loadUnaligned(as: Vector.self)
                p.storeBytes(of: v.replacing(with: 0, where: v .< 0), as: Vector.self)
                i += Vector.scalarCount
            }
            while i < range.upperBound { x[i] = max(x[i], 0); i += 1 }
        }
    }

    /// g[i] = y[i] > 0 ? g[i] : 0, in place: the ReLU gradient given its output y.
    public static func reluBackward(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        passGradient(g, output: y, vector: { $0 .> 0 }, scalar: { $0 > 0 })
    }

    /// y[i] = min(max(x[i], 0), 6), in place: ReLU6, MobileNet's activation.
    public static func relu6(_ x: UnsafeMutableBufferPointer<Float>) {
        let base = UnsafeMutableRawPointer(x.baseAddress!)
        Parallel.forEachChunk(x.count) { range in
            var i = range.lowerBound
            while i + Vector.scalarCount <= range.upperBound {
                let p = base + i * 4
                let v = p.loadUnaligned(as: Vector.self)
                // Two masked replaces, as relu's: SIMD's clamped(lowerBound:upperBound:) compiled to a scalar loop
                // that took 70 % of a MobileNet's int8 inference.
                let low = v.replacing(with: 0, where: v .< 0)
                p.storeBytes(of: low.replacing(with: 6, where: low .> 6), as: Vector.self)
                i += Vector.scalarCount
            }
            while i < range.upperBound { x[i] = min(max(x[i], 0), 6); i += 1 }
        }
    }

    /// g[i] = 0 < y[i] < 6 ? g[i] : 0, in place: the ReLU6 gradient given its output y.
    public static func relu6Backward(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        passGradient(g, output: y, vector: { ($0 .> 0) .& ($0 .< 6) }, scalar: { $0 > 0 && $0 < 6 })
    }

    /// Zeroes g[i] where the output y[i] says the activation was flat.
    @inline(__always)
    private static func passGradient(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>,
                                     vector: (Vector) -> SIMDMask<Vector.MaskStorage>, scalar: (Float) -> Bool) {
        precondition(g.count == y.count)
        let gb = UnsafeMutableRawPointer(g.baseAddress!), yb = UnsafeRawPointer(y.baseAddress!)
        Parallel.forEachChunk(g.count) { range in
            var i = range.lowerBound
            while i + Vector.scalarCount <= range.upperBound {
                let gv = (gb + i * 4).loadUnaligned(as: Vector.self)
                let yv = (yb + i * 4).loadUnaligned(as: Vector.self)
                (gb + i * 4).storeBytes(of: gv.replacing(with: 0, where: .!vector(yv)), as: Vector.self)
                i += Vector.scalarCount
            }
            while i < range.upperBound { if !scalar(y[i]) { g[i] = 0 }; i += 1 }
        }
    }

    /// sum[i] += x[i]: residual adds and gradients that meet where a value fans out.
    public static func accumulate(_ x: UnsafeBufferPointer<Float>, into sum: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == sum.count)
        let sb = UnsafeMutableRawPointer(sum.baseAddress!), xb = UnsafeRawPointer(x.baseAddress!)
        Parallel.forEachChunk(sum.count) { range in
            var i = range.lowerBound
            while i + Vector.scalarCount <= range.upperBound {
                let v = (sb + i * 4).loadUnaligned(as: Vector.self) + (xb + i * 4).loadUnaligned(as: Vector.self)
                (sb + i * 4).storeBytes(of: v, as: Vector.self)
                i += Vector.scalarCount
            }
            while i < range.upperBound { sum[i] += x[i]; i += 1 }
        }
    }
}
