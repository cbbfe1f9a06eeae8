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

/// Top-k soft targets: per row the k largest probabilities with their class indices; on decoding the
/// remaining mass is spread evenly over the other classes, so every row still sums to 1.
public enum TopKCodec {
    /// probabilities: (rows, classes) -> per row k Int32 indices, then k values (float32 or float16).
    public static func encode(_ probabilities: [Float], rows: Int, classes: Int, k: Int, valueType: WireDType) -> [UInt8] {
        precondition(k >= 1 && k <= classes && probabilities.count == rows * classes)
        precondition(valueType == .float32 || valueType == .float16, "top-k values are float32 or float16")
        var out: [UInt8] = []
        out.reserveCapacity(rows * k * (4 + valueType.byteSize))
        for r in 0..<rows {
            let row = probabilities[(r * classes)..<((r + 1) * classes)]
            let top = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            for index in top { withUnsafeBytes(of: Int32(index - r * classes).littleEndian) { out.append(contentsOf: $0) } }
            for index in top {
                if valueType == .float32 {
                    withUnsafeBytes(of: row[index]) { out.append(contentsOf: $0) }
                } else {
                    withUnsafeBytes(of: Float16(row[index])) { out.append(contentsOf: $0) }
                }
            }
        }
        return out
    }

    /// The dense (rows, classes) probabilities a top-k frame stands for; throws on indices out of range.
    public static func decode(_ frame: UnsafeRawBufferPointer, rows: Int, classes: Int, k: Int, valueType: WireDType) throws -> [Float] {
        let valueSize = valueType.byteSize
        let rowBytes = k * (4 + valueSize)
        guard frame.count == rows * rowBytes else {
            throw WireError(.invalidTensor, "top-k frame of \(frame.count) bytes, expected \(rows * rowBytes)")
        }
        var out = [Float](repeating: 0, count: rows * classes)
        for r in 0..<rows {
            let base = r * rowBytes
            var kept: Float = 0
            var seen = Set<Int>()
            for j in 0..<k {
                let index = Int(Int32(littleEndian: frame.loadUnaligned(fromByteOffset: base + 4 * j, as: Int32.self)))
                guard index >= 0, index < classes, seen.insert(index).inserted else {
                    throw WireError(.invalidTensor, "top-k row \(r): class index \(index) is out of range or repeated")
                }
                let offset = base + 4 * k + valueSize * j
                let value = valueType == .float32
                    ? frame.loadUnaligned(fromByteOffset: offset, as: Float.self)
                    : Float(frame.loadUnaligned(fromByteOffset: offset, as: Float16.self))
                guard value.isFinite, value >= 0 else { throw WireError(.invalidTensor, "top-k row \(r): probability \(value)") }
                out[r * classes + index] = value
                kept += value
            }
            if k < classes {
                let rest = max(0, 1 - kept) / Float(classes - k)
                for c in 0..<classes where !seen.contains(c) { out[r * classes + c] = rest }
            }
        }
        return out
    }
}
