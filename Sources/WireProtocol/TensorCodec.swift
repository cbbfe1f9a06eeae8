/// Float tensors to and from frame bytes. Decoding uses unaligned loads: received frames are often not
/// 4-byte aligned.
public enum TensorCodec {
    public static func float32Bytes(_ values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    public static func float16Bytes(_ values: [Float]) -> [UInt8] {
        let halves = values.map { Float16($0) }
        return halves.withUnsafeBytes { Array($0) }
    }

    /// Symmetric per-tensor int8: scale = max|x| / 127, q = round(x / scale).
    public static func int8Bytes(_ values: [Float]) -> (bytes: [UInt8], scale: Float) {
        let largest = values.reduce(Float(0)) { max($0, abs($1)) }
        let scale = largest > 0 ? largest / 127 : 1
        let bytes = values.map { UInt8(bitPattern: Int8(max(-127, min(127, ($0 / scale).rounded())))) }
        return (bytes, scale)
    }

    /// The values of a dense frame as Float.
    public static func decode(_ frame: UnsafeRawBufferPointer, dtype: WireDType, scale: Float? = nil) -> [Float] {
        let n = frame.count / dtype.byteSize
        switch dtype {
        case .float32: return (0..<n).map { frame.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        case .float16: return (0..<n).map { Float(frame.loadUnaligned(fromByteOffset: $0 * 2, as: Float16.self)) }
        case .int8:
            let s = scale ?? 1
            return (0..<n).map { Float(Int8(bitPattern: frame[$0])) * s }
        case .uint8: return (0..<n).map { Float(frame[$0]) }
        case .int32: return (0..<n).map { Float(frame.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
    }
}

/// Top-k soft targets with the tail: per row the k largest probabilities with their class indices, and the exact
/// mass of every other class as one tail bucket. A row is k indices (1 byte each for up to 256 classes, 2 for up to
/// 65536, else 4), then k values, then the tail, the values and the tail in the value type (float32 or float16).
/// Decoded, a row is the classes' probabilities (0 for those in the tail) and one more column, the tail's mass:
/// what the student's KL over the k + 1 buckets reads, and what an ensemble averages column by column.
public enum TopKCodec {
    /// Bytes per class index for `classes` classes.
    public static func indexBytes(classes: Int) -> Int { classes <= 256 ? 1 : classes <= 65536 ? 2 : 4 }

    /// Bytes per row, nil on overflow.
    public static func rowBytes(classes: Int, k: Int, valueType: WireDType) -> Int? {
        let (indices, o1) = k.multipliedReportingOverflow(by: indexBytes(classes: classes))
        let (values, o2) = (k + 1).multipliedReportingOverflow(by: valueType.byteSize)
        let (sum, o3) = indices.addingReportingOverflow(values)
        return o1 || o2 || o3 || k < 0 ? nil : sum
    }

    /// probabilities: (rows, classes) -> the frame.
    public static func encode(_ probabilities: [Float], rows: Int, classes: Int, k: Int, valueType: WireDType) -> [UInt8] {
        precondition(k >= 1 && k <= classes && probabilities.count == rows * classes)
        precondition(valueType == .float32 || valueType == .float16, "top-k values are float32 or float16")
        let indexSize = indexBytes(classes: classes)
        var out: [UInt8] = []
        out.reserveCapacity(rows * rowBytes(classes: classes, k: k, valueType: valueType)!)
        func appendValue(_ v: Float) {
            if valueType == .float32 { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            else { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        var top = [Int](repeating: 0, count: k)
        probabilities.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * classes
                largest(row, classes: classes, k: k, into: &top)
                for index in top {
                    withUnsafeBytes(of: UInt32(index).littleEndian) { out.append(contentsOf: $0.prefix(indexSize)) }
                }
                var kept = 0.0
                for index in top {
                    appendValue(row[index])
                    kept += Double(row[index])
                }
                appendValue(Float(max(0, 1 - kept)))
            }
        }
        return out
    }

    /// The k largest values' indices, largest first, ties to the lower index: one pass keeping a sorted list.
    static func largest(_ row: UnsafePointer<Float>, classes: Int, k: Int, into top: inout [Int]) {
        var count = 0
        for c in 0..<classes {
            let v = row[c]
            guard count < k || v > row[top[k - 1]] else { continue }
            var i = min(count, k - 1)
            while i > 0 && row[top[i - 1]] < v {
                top[i] = top[i - 1]
                i -= 1
            }
            top[i] = c
            count = min(count + 1, k)
        }
    }

    /// The (rows, classes + 1) probabilities and tail masses a frame stands for; throws on indices out of range or
    /// repeated, and on values or tails that are not finite and non-negative.
    public static func decode(_ frame: UnsafeRawBufferPointer, rows: Int, classes: Int, k: Int, valueType: WireDType) throws -> [Float] {
        let indexSize = indexBytes(classes: classes), valueSize = valueType.byteSize
        guard let rowBytes = rowBytes(classes: classes, k: k, valueType: valueType), frame.count == rows * rowBytes else {
            throw WireError(.invalidTensor, "top-k frame of \(frame.count) bytes, expected \(rows) rows of k = \(k)")
        }
        func value(_ offset: Int) -> Float {
            valueType == .float32 ? Float(bitPattern: UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                : Float(Float16(bitPattern: UInt16(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
        }
        let columns = classes + 1
        var out = [Float](repeating: 0, count: rows * columns)
        var seen = [Int](repeating: -1, count: classes)
        for r in 0..<rows {
            let base = r * rowBytes
            for j in 0..<k {
                var index = 0
                for b in 0..<indexSize { index |= Int(frame[base + indexSize * j + b]) << (8 * b) }
                guard index < classes, seen[index] != r else {
                    throw WireError(.invalidTensor, "top-k row \(r): class index \(index) is out of range or repeated")
                }
                seen[index] = r
                let v = value(base + indexSize * k + valueSize * j)
                guard v.isFinite, v >= 0 else { throw WireError(.invalidTensor, "top-k row \(r): probability \(v)") }
                out[r * columns + index] = v
            }
            let tail = value(base + indexSize * k + valueSize * k)
            guard tail.isFinite, tail >= 0 else { throw WireError(.invalidTensor, "top-k row \(r): tail mass \(tail)") }
            out[r * columns + classes] = tail
        }
        return out
    }
}
