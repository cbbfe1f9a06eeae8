/// The update rules of SGD and Adam over raw parameter memory: SIMD loops split over the compute threads.
/// (Written over closure-captured buffers, the same loops ran scalar and took a fifth of a training step.)
public enum OptimizerKernels {
    typealias Vector = Elementwise.Vector

    /// w -= lr * (g + wd * w)
    public static func sgd(_ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                           learningRate lr: Float, weightDecay wd: Float) {
        let wp = w.baseAddress!, gp = g.baseAddress!
        Parallel.forEachChunk(w.count) { range in
            forEachVector(range) { i in
                let wv = load(wp, i)
                store(wv - lr * (load(gp, i) + wd * wv), wp, i)
            } scalar: { i in
                wp[i] -= lr * (gp[i] + wd * wp[i])
            }
        }
    }

    /// d = g + wd * w; v = mu * v + d; w -= lr * (nesterov ? d + mu * v : v)   (torch.optim.SGD, dampening 0)
    public static func sgdMomentum(_ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                                   velocity: UnsafeMutableBufferPointer<Float>, learningRate lr: Float,
                                   momentum mu: Float, nesterov: Bool, weightDecay wd: Float) {
        let wp = w.baseAddress!, gp = g.baseAddress!, vp = velocity.baseAddress!
        let n: Float = nesterov ? 1 : 0
        Parallel.forEachChunk(w.count) { range in
            forEachVector(range) { i in
                let wv = load(wp, i)
                let d = load(gp, i) + wd * wv
                let v = mu * load(vp, i) + d
                store(v, vp, i)
                // nesterov: d + mu * v; plain: v. Blended arithmetically to keep the loop branch-free.
                store(wv - lr * (n * (d + mu * v) + (1 - n) * v), wp, i)
            } scalar: { i in
                let d = gp[i] + wd * wp[i]
                vp[i] = mu * vp[i] + d
                wp[i] -= lr * (nesterov ? d + mu * vp[i] : vp[i])
            }
        }
    }

    /// Adam with L2 decay (torch.optim.Adam): m, v moments; stepSize = lr / (1 - b1^t); rootCorrection2 = sqrt(1 - b2^t).
    public static func adam(_ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                            m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
                            stepSize: Float, rootCorrection2: Float, beta1 b1: Float, beta2 b2: Float,
                            epsilon eps: Float, weightDecay wd: Float) {
        let wp = w.baseAddress!, gp = g.baseAddress!, mp = m.baseAddress!, vp = v.baseAddress!
        Parallel.forEachChunk(w.count) { range in
            forEachVector(range) { i in
                let wv = load(wp, i)
                let d = load(gp, i) + wd * wv
                let mv = b1 * load(mp, i) + (1 - b1) * d
                let vv = b2 * load(vp, i) + (1 - b2) * d * d
                store(mv, mp, i)
                store(vv, vp, i)
                store(wv - stepSize * mv / (vv.squareRoot() / rootCorrection2 + eps), wp, i)
            } scalar: { i in
                let d = gp[i] + wd * wp[i]
                mp[i] = b1 * mp[i] + (1 - b1) * d
                vp[i] = b2 * vp[i] + (1 - b2) * d * d
                wp[i] -= stepSize * mp[i] / (vp[i].squareRoot() / rootCorrection2 + eps)
            }
        }
    }

    @inline(__always)
    static func forEachVector(_ range: Range<Int>, _ vector: (Int) -> Void, scalar: (Int) -> Void) {
        var i = range.lowerBound
        while i + Vector.scalarCount <= range.upperBound { vector(i); i += Vector.scalarCount }
        while i < range.upperBound { scalar(i); i += 1 }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self)
    }
}
