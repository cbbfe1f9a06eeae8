import CZlib
import Foundation

/// zlib's inflate, for gzipped IDX files and deflated zip entries.
enum Inflate {
    /// Decompresses a gzip stream (or zlib; detected from the header).
    static func gunzip(_ bytes: [UInt8], source: String) throws -> [UInt8] {
        // The gzip trailer holds the size modulo 2^32: a good first guess for the buffer.
        var hint = 0
        if bytes.count >= 18 {
            hint = bytes.suffix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        }
        return try run(bytes, windowBits: 15 + 32, sizeHint: hint, source: source)
    }

    /// Decompresses raw deflate data of a known size (a zip entry).
    static func rawInflate(_ bytes: ArraySlice<UInt8>, expectedSize: Int, source: String) throws -> [UInt8] {
        let out = try run(Array(bytes), windowBits: -15, sizeHint: expectedSize, source: source)
        guard out.count == expectedSize else {
            throw DatasetError(source, "inflated to \(out.count) bytes, the archive says \(expectedSize)")
        }
        return out
    }

    private static func run(_ bytes: [UInt8], windowBits: Int32, sizeHint: Int, source: String) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        let rc = bytes.withUnsafeBufferPointer { p in
            czlib_inflate(p.baseAddress, p.count, windowBits, max(sizeHint, 1), &output, &length)
        }
        guard rc == 0, let output else {
            let why = rc == -5 ? "truncated compressed data" : rc == -3 ? "corrupt compressed data" : "zlib error \(rc)"
            throw DatasetError(source, "cannot decompress: \(why)")
        }
        defer { czlib_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: length))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { czlib_crc32($0.baseAddress, $0.count) }
    }
}

/// Reads a whole file, decompressing it when it starts with the gzip magic.
func readMaybeGzipped(_ path: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw DatasetError(path, "no such file")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DatasetError(path, "cannot read the file")
    }
    let bytes = [UInt8](data)
    if bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        return try Inflate.gunzip(bytes, source: path)
    }
    return bytes
}
