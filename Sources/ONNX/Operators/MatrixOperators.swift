import Compute
import Foundation

/// Gemm and MatMul on oneDNN, BatchNormalization (inference), Softmax and LogSoftmax.
enum MatrixOperators {
    static let table: [String: Operator] = [
        "Gemm": Operator(["alpha", "beta", "transA", "transB"], gemm),
        "MatMul": Operator([], matmul),
        "BatchNormalization": Operator(["epsilon", "momentum", "training_mode", "spatial"], batchNorm),
        "Softmax": Operator(["axis"]) { c in [try softmax(c, log: false)] },
        "LogSoftmax": Operator(["axis"]) { c in [try softmax(c, log: true)] },
    ]

    static func gemm(_ c: NodeContext) throws -> [OnnxValue] {
        let a = try c.input(0, "A"), b = try c.input(1, "B")
        guard a.shape.count == 2, b.shape.count == 2 else { throw c.error("A and B must be matrices, got \(a.shape) and \(b.shape)") }
        let transA = try c.int("transA", default: 0) != 0, transB = try c.int("transB", default: 0) != 0
        let alpha = try c.float("alpha", default: 1), beta = try c.float("beta", default: 1)
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else { throw c.error("inner dimensions differ: A \(a.shape)\(transA ? "ᵀ" : ""), B \(b.shape)\(transB ? "ᵀ" : "")") }
        var out = [Float](repeating: 0, count: m * n)
        if let bias = c.optionalInput(2), beta != 0 {
            let shape = try ElementwiseOperators.broadcastShape([m, n], bias.shape, c)
            guard shape == [m, n] else { throw c.error("C \(bias.shape) does not broadcast to (\(m), \(n))") }
            let values = try bias.floats(c.label, "C")
            out = ElementwiseOperators.broadcast(out, [m, n], values, bias.shape, to: [m, n]) { _, v in beta * v }
        }
        let x = try a.floats(c.label, "A"), y = try b.floats(c.label, "B")
        x.withUnsafeBufferPointer { ap in
            y.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    GEMM.sgemm(transA ? .transposed : .none, transB ? .transposed : .none, m: m, n: n, k: k, alpha: alpha,
                               a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
                               beta: 1, c: op.baseAddress!, ldc: n)
                }
            }
        }
        return [OnnxValue(shape: [m, n], floats: out)]
    }

    /// NumPy matmul: 1-D operands gain and lose a unit dimension, leading dimensions broadcast.
    static func matmul(_ c: NodeContext) throws -> [OnnxValue] {
        let a = try c.input(0, "A"), b = try c.input(1, "B")
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw c.error("MatMul needs tensors of rank 1 or more") }
        let aShape = a.shape.count == 1 ? [1] + a.shape : a.shape, bShape = b.shape.count == 1 ? b.shape + [1] : b.shape
        let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
        let (k2, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
        guard k == k2 else { throw c.error("inner dimensions differ: \(a.shape) x \(b.shape)") }
        let batchA = Array(aShape.dropLast(2)), batchB = Array(bShape.dropLast(2))
        let batch = try ElementwiseOperators.broadcastShape(batchA, batchB, c)
        let count = batch.reduce(1, *)
        // Index of each batch entry's A and B matrix under broadcasting.
        let indexA = ElementwiseOperators.broadcast(Array(0..<batchA.reduce(1, *)), batchA, [0], [], to: batch) { i, _ in i }
        let indexB = ElementwiseOperators.broadcast([0], [], Array(0..<batchB.reduce(1, *)), batchB, to: batch) { _, i in i }
        let x = try a.floats(c.label, "A"), y = try b.floats(c.label, "B")
        var out = [Float](repeating: 0, count: count * m * n)
        x.withUnsafeBufferPointer { ap in
            y.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    for i in 0..<count {
                        GEMM.sgemm(.none, .none, m: m, n: n, k: k, a: ap.baseAddress! + indexA[i] * m * k, lda: k,
                                   b: bp.baseAddress! + indexB[i] * k * n, ldb: n, c: op.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
        var shape = batch + [m, n]
        if a.shape.count == 1 { shape.remove(at: shape.count - 2) }
        if b.shape.count == 1 { shape.removeLast() }
        return [OnnxValue(shape: shape, floats: out)]
    }

    static func batchNorm(_ c: NodeContext) throws -> [OnnxValue] {
        if try c.int("training_mode", default: 0) != 0 { throw c.error("training_mode 1 is not supported (inference only)") }
        let x = try c.input(0, "X")
        guard x.shape.count >= 2 else { throw c.error("X must be (N, C, ...), got \(x.shape)") }
        let channels = x.shape[1]
        let parameters = try ["scale", "B", "input_mean", "input_var"].enumerated().map { i, role in
            let v = try c.floats(i + 1, role)
            guard v.count == channels else { throw c.error("\(role) must have \(channels) values, got \(v.count)") }
            return v
        }
        let epsilon = try c.float("epsilon", default: 1e-5)
        let gain = (0..<channels).map { parameters[0][$0] / (parameters[3][$0] + epsilon).squareRoot() }
        let shift = (0..<channels).map { parameters[1][$0] - parameters[2][$0] * gain[$0] }
        var values = try x.floats(c.label, "X")
        let plane = x.shape[2...].reduce(1, *)
        for i in 0..<(x.shape[0] * channels) {
            let ch = i % channels
            for j in (i * plane)..<((i + 1) * plane) { values[j] = values[j] * gain[ch] + shift[ch] }
        }
        return [OnnxValue(shape: x.shape, floats: values)]
    }

    /// Opset 13 normalises along one axis (default -1); earlier opsets over everything from `axis` (default 1) on.
    static func softmax(_ c: NodeContext, log: Bool) throws -> OnnxValue {
        let x = try c.input(0, "input")
        var values = try x.floats(c.label, "input")
        let rank = x.shape.count
        let axis = try c.axis(try c.int("axis", default: c.opset >= 13 ? -1 : 1), rank: max(rank, 1))
        let (outer, length, inner) = c.opset >= 13
            ? (x.shape[..<axis].reduce(1, *), x.shape[axis], x.shape[(axis + 1)...].reduce(1, *))
            : (x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *), 1)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var top = -Float.infinity
                for j in 0..<length { top = max(top, values[base + j * inner]) }
                var sum: Float = 0
                for j in 0..<length { sum += exp(values[base + j * inner] - top) }
                for j in 0..<length {
                    let shifted = values[base + j * inner] - top
                    values[base + j * inner] = log ? shifted - Foundation.log(sum) : exp(shifted) / sum
                }
            }
        }
        return OnnxValue(shape: x.shape, floats: values)
    }
}
