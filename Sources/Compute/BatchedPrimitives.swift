import CDNNL
import Foundation

/// oneDNN's batched matmul: C(batch, m, n) = alpha * op(A) x op(B), each op an optional transpose of the last two
/// axes of a dense (batch, rows, columns) buffer; `causal` (m == n) then masks scores above the diagonal to -inf.
/// One primitive per geometry, made on first use and kept.
public final class BatchedMatmul: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable {
        public var batch: Int, m: Int, n: Int, k: Int
        public var transposeA: Bool, transposeB: Bool
        public var alpha: Float
        public var causal: Bool

        public init(batch: Int, m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                    alpha: Float = 1, causal: Bool = false) {
            self.batch = batch; self.m = m; self.n = n; self.k = k
            self.transposeA = transposeA; self.transposeB = transposeB; self.alpha = alpha; self.causal = causal
        }
    }

    public let geometry: Geometry
    private let handle: OpaquePointer
    private let lock = NSLock()
    private static let cache = PrimitiveCache<Geometry, BatchedMatmul>(capacity: 128)

    public static func cached(_ g: Geometry) -> BatchedMatmul {
        // oneDNN implements every plain f32 matmul (a reference kernel at worst): a nil is our bug.
        guard let made = cache.value(for: g, make: BatchedMatmul.init) else { preconditionFailure("oneDNN has no matmul for \(g)") }
        return made
    }

    public init?(_ g: Geometry) {
        guard let handle = cdnnl_matmul_create(Int64(g.batch), Int64(g.m), Int64(g.n), Int64(g.k), g.transposeA ? 1 : 0,
                                               g.transposeB ? 1 : 0, g.alpha, g.causal ? 1 : 0) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_matmul_destroy(handle) }

    public var implementation: String { String(cString: cdnnl_matmul_implementation(handle)) }

    public func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>) {
        lock.lock()
        let status = cdnnl_matmul_execute(handle, a, b, c)
        lock.unlock()
        precondition(status == 0, "oneDNN matmul failed with status \(status) for \(geometry)")
    }

    public func callAsFunction(_ a: [Float], _ b: [Float]) -> [Float] {
        let g = geometry
        precondition(a.count == g.batch * g.m * g.k && b.count == g.batch * g.k * g.n, "BatchedMatmul operands for \(g)")
        var c = [Float](repeating: 0, count: g.batch * g.m * g.n)
        guard !c.isEmpty, g.k > 0 else { return c }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { run(ap.baseAddress!, bp.baseAddress!, into: $0.baseAddress!) }
            }
        }
        return c
    }

    /// The same product by triple loops, that tests hold the primitive against.
    public static func reference(_ g: Geometry, _ a: [Float], _ b: [Float]) -> [Float] {
        var c = [Float](repeating: 0, count: g.batch * g.m * g.n)
        for batch in 0..<g.batch {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        ReferenceGEMM.sgemm(g.transposeA ? .transposed : .none, g.transposeB ? .transposed : .none,
                                            m: g.m, n: g.n, k: g.k, alpha: g.alpha,
                                            a: ap.baseAddress! + batch * g.m * g.k, lda: g.transposeA ? g.m : g.k,
                                            b: bp.baseAddress! + batch * g.k * g.n, ldb: g.transposeB ? g.k : g.n,
                                            c: cp.baseAddress! + batch * g.m * g.n, ldc: g.n)
                    }
                }
            }
        }
        if g.causal {
            for batch in 0..<g.batch { for i in 0..<g.m { for j in (i + 1)..<max(g.n, i + 1) { c[(batch * g.m + i) * g.n + j] = -.infinity } } }
        }
        return c
    }
}

/// oneDNN's softmax along each row of a (rows, columns) buffer, with its backward.
public final class RowSoftmax: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable { public var rows: Int, columns: Int }

    public let geometry: Geometry
    private let handle: OpaquePointer
    private let lock = NSLock()
    private static let cache = PrimitiveCache<Geometry, RowSoftmax>(capacity: 64)

    public static func cached(rows: Int, columns: Int) -> RowSoftmax {
        let g = Geometry(rows: rows, columns: columns)
        guard let made = cache.value(for: g, make: RowSoftmax.init) else { preconditionFailure("oneDNN has no softmax for \(g)") }
        return made
    }

    init?(_ g: Geometry) {
        guard let handle = cdnnl_softmax_create(Int64(g.rows), Int64(g.columns)) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_softmax_destroy(handle) }

    public var implementation: String { String(cString: cdnnl_softmax_implementation(handle)) }

    public func forward(_ x: [Float]) -> [Float] {
        precondition(x.count == geometry.rows * geometry.columns, "RowSoftmax input for \(geometry)")
        var y = [Float](repeating: 0, count: x.count)
        guard !y.isEmpty else { return y }
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                lock.lock()
                let status = cdnnl_softmax_forward(handle, xp.baseAddress!, yp.baseAddress!)
                lock.unlock()
                precondition(status == 0, "oneDNN softmax failed with status \(status)")
            }
        }
        return y
    }

    /// dx from the forward's output y and dy: y * (dy - sum(dy * y)) per row.
    public func backward(output y: [Float], gradient dy: [Float]) -> [Float] {
        precondition(y.count == dy.count && y.count == geometry.rows * geometry.columns, "RowSoftmax gradient for \(geometry)")
        var dx = [Float](repeating: 0, count: y.count)
        guard !dx.isEmpty else { return dx }
        y.withUnsafeBufferPointer { yp in
            dy.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in
                    lock.lock()
                    let status = cdnnl_softmax_backward(handle, yp.baseAddress!, gp.baseAddress!, dp.baseAddress!)
                    lock.unlock()
                    precondition(status == 0, "oneDNN softmax backward failed with status \(status)")
                }
            }
        }
        return dx
    }
}

/// A copy between two strided layouts of one set of dimensions (an axis permutation), as one oneDNN reorder.
public final class AxisPermutation: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable {
        public var dimensions: [Int], sourceStrides: [Int], destinationStrides: [Int]
        public init(dimensions: [Int], sourceStrides: [Int], destinationStrides: [Int]) {
            self.dimensions = dimensions; self.sourceStrides = sourceStrides; self.destinationStrides = destinationStrides
        }
    }

    public let geometry: Geometry
    private let handle: OpaquePointer
    private let lock = NSLock()
    private static let cache = PrimitiveCache<Geometry, AxisPermutation>(capacity: 128)

    public static func cached(_ g: Geometry) -> AxisPermutation {
        guard let made = cache.value(for: g, make: AxisPermutation.init) else { preconditionFailure("oneDNN has no reorder for \(g)") }
        return made
    }

    init?(_ g: Geometry) {
        let dims = g.dimensions.map(Int64.init), from = g.sourceStrides.map(Int64.init), to = g.destinationStrides.map(Int64.init)
        guard let handle = cdnnl_permute_create(Int32(dims.count), dims, from, to) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_permute_destroy(handle) }

    public func callAsFunction(_ x: [Float]) -> [Float] {
        let count = geometry.dimensions.reduce(1, *)
        precondition(x.count == count, "AxisPermutation input of \(x.count) for \(geometry)")
        guard count > 0 else { return [] }
        // The reorder writes every element: no zero fill first.
        return [Float](unsafeUninitializedCapacity: count) { yp, initialized in
            x.withUnsafeBufferPointer { xp in
                lock.lock()
                let status = cdnnl_permute_execute(handle, xp.baseAddress!, yp.baseAddress!)
                lock.unlock()
                precondition(status == 0, "oneDNN reorder failed with status \(status)")
            }
            initialized = count
        }
    }
}
