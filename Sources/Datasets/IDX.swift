import Compute

/// The IDX format of the MNIST family: two zero bytes, a type code, the rank, big-endian UInt32
/// dimensions, then the values big-endian.
public struct IDXArray: Sendable {
    public enum ElementType: UInt8, Sendable {
        case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E
        var size: Int {
            switch self {
            case .uint8, .int8: return 1
            case .int16: return 2
            case .int32, .float32: return 4
            case .float64: return 8
            }
        }
    }

    public let type: ElementType
    public let shape: [Int]
    /// The big-endian values after the header.
    private let payload: [UInt8]

    /// Reads an IDX file, gzipped or not.
    public static func read(_ path: String) throws -> IDXArray {
        try decode(readMaybeGzipped(path), source: path)
    }

    public static func decode(_ bytes: [UInt8], source: String) throws -> IDXArray {
        guard bytes.count >= 4 else { throw DatasetError(source, "truncated: \(bytes.count) bytes, no IDX header") }
        guard bytes[0] == 0, bytes[1] == 0, let type = ElementType(rawValue: bytes[2]) else {
            let magic = bytes.prefix(4).map { String(format2: $0) }.joined(separator: " ")
            throw DatasetError(source, "wrong magic \(magic): not an IDX file (expected 00 00 <type> <rank>)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw DatasetError(source, "truncated: header of rank \(rank) needs \(4 + 4 * rank) bytes, file has \(bytes.count)")
        }
        let shape = (0..<rank).map { d -> Int in
            let o = 4 + 4 * d
            return Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
        }
        guard let elements = shape.checkedProduct,
              case let (expected, false) = elements.multipliedReportingOverflow(by: type.size) else {
            throw DatasetError(source, "shape \(shape) is too large to address")
        }
        let headerSize = 4 + 4 * rank
        let found = bytes.count - headerSize
        guard found == expected else {
            let what = found < expected ? "truncated" : "too long"
            throw DatasetError(source, "\(what): shape \(shape) needs \(expected) data bytes, file has \(found)")
        }
        return IDXArray(type: type, shape: shape, payload: Array(bytes[headerSize...]))
    }

    /// Values as Float; unsigned bytes are scaled to [0, 1] when `scaleBytes` is set.
    public func floats(scaleBytes: Bool) -> [Float] {
        switch type {
        case .uint8:
            let s: Float = scaleBytes ? 1 / 255 : 1
            return payload.map { Float($0) * s }
        default:
            return (0..<(payload.count / type.size)).map { Float(value(at: $0)) }
        }
    }

    /// Values as integers, or nil for floating-point types.
    public func integers() -> [Int64]? {
        switch type {
        case .float32, .float64: return nil
        default: return (0..<(payload.count / type.size)).map { Int64(value(at: $0)) }
        }
    }

    private func value(at i: Int) -> Double {
        let o = i * type.size
        func bigEndian(_ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 << 8 | UInt64(payload[o + $1]) } }
        switch type {
        case .uint8: return Double(payload[o])
        case .int8: return Double(Int8(bitPattern: payload[o]))
        case .int16: return Double(Int16(bitPattern: UInt16(bigEndian(2))))
        case .int32: return Double(Int32(bitPattern: UInt32(bigEndian(4))))
        case .float32: return Double(Float(bitPattern: UInt32(bigEndian(4))))
        case .float64: return Double(bitPattern: bigEndian(8))
        }
    }
}

extension String {
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
