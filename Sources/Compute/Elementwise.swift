/// Vectorised elementwise kernels. Explicit SIMD: the plain loops did not auto-vectorise.
public enum Elementwise {
    public typealias Vector = SIMD16<Float>

    /// y[i] = max(x[i], 0), in place.
    public static func relu(_ x: UnsafeMutableBufferPointer<Float>) {
        let n = x.count, base = UnsafeMutableRawPointer(x.baseAddress!)
        var i = 0
        while i + Vector.scalarCount <= n {
            let p = base + i * 4
            let v = p.loadUnaligned(as: Vector.self)
            p.storeBytes(of: v.replacing(with: 0, where: v .< 0), as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n { x[i] = max(x[i], 0); i += 1 }
    }

    /// g[i] = y[i] > 0 ? g[i] : 0, in place: the ReLU gradient given its output y.
    public static func reluBackward(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        precondition(g.count == y.count)
        let n = g.count, gb = UnsafeMutableRawPointer(g.baseAddress!), yb = UnsafeRawPointer(y.baseAddress!)
        var i = 0
        while i + Vector.scalarCount <= n {
            let gv = (gb + i * 4).loadUnaligned(as: Vector.self)
            let yv = (yb + i * 4).loadUnaligned(as: Vector.self)
            (gb + i * 4).storeBytes(of: gv.replacing(with: 0, where: yv .<= 0), as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n { if y[i] <= 0 { g[i] = 0 }; i += 1 }
    }
}
