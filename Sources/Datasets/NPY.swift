/// A NumPy .npy array: the magic "\u{93}NUMPY", a version, a Python-literal header with
/// descr, fortran_order and shape, then the raw values. Little-endian and C order only.
public struct NPYArray: Sendable {
    public let descr: String
    public let shape: [Int]
    private let payload: ArraySlice<UInt8>

    private static let elementSizes: [String: Int] = [
        "|u1": 1, "|i1": 1, "<u2": 2, "<i2": 2, "<u4": 4, "<i4": 4, "<u8": 8, "<i8": 8, "<f4": 4, "<f8": 8,
    ]

    public static func decode(_ bytes: [UInt8], source: String) throws -> NPYArray {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw DatasetError(source, "wrong magic: not a .npy file")
        }
        let major = bytes[6]
        let lengthBytes = major == 1 ? 2 : 4
        guard major >= 1 && major <= 3, bytes.count >= 8 + lengthBytes else {
            throw DatasetError(source, "unsupported .npy version \(major).\(bytes[7])")
        }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let dataStart = 8 + lengthBytes + headerLength
        guard dataStart <= bytes.count else {
            throw DatasetError(source, "truncated: header claims \(headerLength) bytes")
        }
        guard let header = String(bytes: bytes[(8 + lengthBytes)..<dataStart], encoding: .utf8) else {
            throw DatasetError(source, "header is not text")
        }
        guard let descr = field("descr", in: header).map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) }) else {
            throw DatasetError(source, "header has no descr: \(header)")
        }
        guard let size = elementSizes[descr] else {
            throw DatasetError(source, "unsupported dtype '\(descr)': use uint8, int8..int64 or float32/float64, little-endian")
        }
        if field("fortran_order", in: header) == "True" {
            throw DatasetError(source, "Fortran-ordered arrays are not supported: save with np.ascontiguousarray")
        }
        guard let shapeText = field("shape", in: header) else {
            throw DatasetError(source, "header has no shape: \(header)")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = dims.compactMap { Int($0) }
        guard shape.count == dims.count, shape.allSatisfy({ $0 >= 0 }),
              let elements = shape.checkedProduct,
              case let (expected, false) = elements.multipliedReportingOverflow(by: size) else {
            throw DatasetError(source, "bad shape \(shapeText)")
        }
        let found = bytes.count - dataStart
        guard found == expected else {
            throw DatasetError(source, "\(found < expected ? "truncated" : "too long"): shape \(shape) of \(descr) needs \(expected) bytes, found \(found)")
        }
        return NPYArray(descr: descr, shape: shape, payload: bytes[dataStart...])
    }

    /// The value of `key` in the header's Python dict literal, as text.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        let rest = header[keyRange.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return rest[..<end].trimmingCharacters(in: .whitespaces)
    }

    public var isFloatingPoint: Bool { descr.hasPrefix("<f") }

    /// Values as Float; uint8 scaled to [0, 1] when `scaleBytes` is set.
    public func floats(scaleBytes: Bool) -> [Float] {
        payload.withUnsafeBytes { raw in
            let n = shape.reduce(1, *)
            switch descr {
            case "<f4": return (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            case "<f8": return (0..<n).map { Float(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
            case "|u1":
                let s: Float = scaleBytes ? 1 / 255 : 1
                return (0..<n).map { Float(raw[$0]) * s }
            default: return integerValues(raw, n).map { Float($0) }
            }
        }
    }

    /// Values as integers, or nil for floating-point arrays.
    public func integers() -> [Int64]? {
        guard !isFloatingPoint else { return nil }
        return payload.withUnsafeBytes { integerValues($0, shape.reduce(1, *)) }
    }

    private func integerValues(_ raw: UnsafeRawBufferPointer, _ n: Int) -> [Int64] {
        (0..<n).map { i -> Int64 in
            switch descr {
            case "|u1": return Int64(raw[i])
            case "|i1": return Int64(Int8(bitPattern: raw[i]))
            case "<u2": return Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            case "<i2": return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
            case "<u4": return Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            case "<i4": return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
            case "<u8": return Int64(truncatingIfNeeded: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            default: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
            }
        }
    }
}

import Compute
import Foundation
