import CDNNL
import Foundation

/// oneDNN's elementwise activations for training on a flat buffer (GELU erf or tanh, SiLU), forward and backward.
public final class ActivationPrimitive: @unchecked Sendable {
    public enum Kind: Int32, Hashable, Sendable { case geluErf = 0, geluTanh = 1, silu = 2 }
    public struct Geometry: Hashable, Sendable { public var count: Int, kind: Kind }

    public let geometry: Geometry
    private let handle: OpaquePointer
    private let lock = NSLock()
    private static let cache = PrimitiveCache<Geometry, ActivationPrimitive>(capacity: 64)

    public static func cached(count: Int, kind: Kind) -> ActivationPrimitive {
        let g = Geometry(count: count, kind: kind)
        guard let made = cache.value(for: g, make: ActivationPrimitive.init) else { preconditionFailure("oneDNN has no eltwise for \(g)") }
        return made
    }

    init?(_ g: Geometry) {
        guard let handle = cdnnl_eltwise_create(Int64(g.count), g.kind.rawValue) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_eltwise_destroy(handle) }

    public func forward(_ x: [Float]) -> [Float] {
        precondition(x.count == geometry.count, "activation input of \(x.count) for \(geometry)")
        var y = [Float](repeating: 0, count: x.count)
        guard !y.isEmpty else { return y }
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                lock.lock()
                let status = cdnnl_eltwise_forward(handle, xp.baseAddress!, yp.baseAddress!)
                lock.unlock()
                precondition(status == 0, "oneDNN eltwise failed with status \(status)")
            }
        }
        return y
    }

    /// dx from the forward's input x and dy.
    public func backward(input x: [Float], gradient dy: [Float]) -> [Float] {
        precondition(x.count == geometry.count && dy.count == geometry.count, "activation gradient for \(geometry)")
        var dx = [Float](repeating: 0, count: x.count)
        guard !dx.isEmpty else { return dx }
        x.withUnsafeBufferPointer { xp in
            dy.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in
                    lock.lock()
                    let status = cdnnl_eltwise_backward(handle, xp.baseAddress!, gp.baseAddress!, dp.baseAddress!)
                    lock.unlock()
                    precondition(status == 0, "oneDNN eltwise backward failed with status \(status)")
                }
            }
        }
        return dx
    }
}

/// oneDNN's layer normalization over the last axis of (rows, features) with scale and shift, for training.
public final class LayerNormPrimitive: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable { public var rows: Int, features: Int, epsilon: Float }

    public let geometry: Geometry
    private let handle: OpaquePointer
    private let lock = NSLock()
    private static let cache = PrimitiveCache<Geometry, LayerNormPrimitive>(capacity: 64)

    public static func cached(rows: Int, features: Int, epsilon: Float) -> LayerNormPrimitive {
        let g = Geometry(rows: rows, features: features, epsilon: epsilon)
        guard let made = cache.value(for: g, make: LayerNormPrimitive.init) else { preconditionFailure("oneDNN has no layer norm for \(g)") }
        return made
    }

    init?(_ g: Geometry) {
        guard let handle = cdnnl_layer_norm_create(Int64(g.rows), Int64(g.features), g.epsilon) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_layer_norm_destroy(handle) }

    /// y and each row's mean and biased variance.
    public func forward(_ x: [Float], scale: [Float], shift: [Float]) -> (y: [Float], mean: [Float], variance: [Float]) {
        let g = geometry
        precondition(x.count == g.rows * g.features && scale.count == g.features && shift.count == g.features, "layer norm operands for \(g)")
        var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: g.rows), variance = mean
        guard g.rows > 0 else { return (y, mean, variance) }
        x.withUnsafeBufferPointer { xp in scale.withUnsafeBufferPointer { sp in shift.withUnsafeBufferPointer { hp in
            y.withUnsafeMutableBufferPointer { yp in mean.withUnsafeMutableBufferPointer { mp in variance.withUnsafeMutableBufferPointer { vp in
                lock.lock()
                let status = cdnnl_layer_norm_forward(handle, xp.baseAddress!, sp.baseAddress!, hp.baseAddress!, yp.baseAddress!,
                                                      mp.baseAddress!, vp.baseAddress!)
                lock.unlock()
                precondition(status == 0, "oneDNN layer norm failed with status \(status)")
            } } }
        } } }
        return (y, mean, variance)
    }

    /// dx, dscale and dshift from the forward's input, statistics and dy.
    public func backward(input x: [Float], scale: [Float], shift: [Float], mean: [Float], variance: [Float], gradient dy: [Float])
        -> (dx: [Float], dScale: [Float], dShift: [Float]) {
        let g = geometry
        var dx = [Float](repeating: 0, count: x.count), dScale = [Float](repeating: 0, count: g.features), dShift = dScale
        guard g.rows > 0 else { return (dx, dScale, dShift) }
        x.withUnsafeBufferPointer { xp in scale.withUnsafeBufferPointer { sp in shift.withUnsafeBufferPointer { hp in
            mean.withUnsafeBufferPointer { mp in variance.withUnsafeBufferPointer { vp in dy.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in dScale.withUnsafeMutableBufferPointer { dsp in dShift.withUnsafeMutableBufferPointer { dhp in
                    lock.lock()
                    let status = cdnnl_layer_norm_backward(handle, xp.baseAddress!, sp.baseAddress!, hp.baseAddress!, mp.baseAddress!, vp.baseAddress!,
                                                           gp.baseAddress!, dp.baseAddress!, dsp.baseAddress!, dhp.baseAddress!)
                    lock.unlock()
                    precondition(status == 0, "oneDNN layer norm backward failed with status \(status)")
                } } }
            } } }
        } } }
        return (dx, dScale, dShift)
    }
}
