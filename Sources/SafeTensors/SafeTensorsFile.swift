import Foundation

/// A safetensors file: an 8-byte little-endian header length, a JSON header naming every tensor's dtype,
/// shape and byte range, then the raw tensor bytes. Free-form strings live in `__metadata__`.
public struct SafeTensorsFile: Sendable, Equatable {
    public var metadata: [String: String]
    public var tensors: [TensorEntry]

    /// The largest header we accept, as the reference implementation does.
    public static let maximumHeaderBytes = 100_000_000

    public init(metadata: [String: String] = [:], tensors: [TensorEntry] = []) {
        self.metadata = metadata
        self.tensors = tensors
    }

    public subscript(name: String) -> TensorEntry? { tensors.first { $0.name == name } }

    /// The file's bytes, tensors laid out in the order given, header padded with spaces to 8 bytes.
    public func encoded() -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]] as [String: Any]
            offset += t.bytes.count
        }
        // The header is built from strings and integers only, so serialisation cannot fail.
        var json = Array(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for t in tensors { out.append(contentsOf: t.bytes) }
        return out
    }

    /// Writes atomically: a crash leaves either the old file or the new one, never half of one.
    public func write(to url: URL) throws {
        try AtomicFile.write(encoded(), to: url)
    }

    public static func read(_ url: URL) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SafeTensorsError(url.path, "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(Array(data), source: url.path)
    }

    /// Parses and validates every header field against the data before returning anything.
    public static func decode(_ bytes: [UInt8], source: String) throws -> SafeTensorsFile {
        guard bytes.count >= 8 else {
            throw SafeTensorsError(source, "truncated: \(bytes.count) bytes, too short for the 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(maximumHeaderBytes) else {
            throw SafeTensorsError(source, "header length \(headerLength) exceeds the \(maximumHeaderBytes)-byte limit: not a safetensors file?")
        }
        let headerEnd = 8 + Int(headerLength)
        guard headerEnd <= bytes.count else {
            throw SafeTensorsError(source, "truncated: header claims \(headerLength) bytes but the file has \(bytes.count - 8) after the length")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw SafeTensorsError(source, "header is not valid JSON: not a safetensors file, or corrupt")
        }
        guard let header = object as? [String: Any] else {
            throw SafeTensorsError(source, "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let m = raw as? [String: String] else {
                throw SafeTensorsError(source, "__metadata__ must map strings to strings")
            }
            metadata = m
        }
        let dataSize = bytes.count - headerEnd
        var spans: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            spans.append(try parseEntry(name, value, dataSize: dataSize, source: source))
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for s in spans {
            guard s.begin == expected else {
                throw SafeTensorsError(source, "tensor '\(s.name)' starts at byte \(s.begin), expected \(expected): ranges overlap or leave a hole")
            }
            expected = s.end
        }
        guard expected == dataSize else {
            throw SafeTensorsError(source, "tensors cover \(expected) data bytes but the file holds \(dataSize): truncated or padded")
        }
        let tensors = spans.map { s in
            TensorEntry(name: s.name, dtype: s.dtype, shape: s.shape, bytes: Array(bytes[(headerEnd + s.begin)..<(headerEnd + s.end)]))
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors)
    }

    private static func parseEntry(_ name: String, _ value: Any, dataSize: Int, source: String) throws
        -> (name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        guard let entry = value as? [String: Any] else {
            throw SafeTensorsError(source, "tensor '\(name)': entry is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
            throw SafeTensorsError(source, "tensor '\(name)': unknown dtype \(String(describing: entry["dtype"] ?? "missing"))")
        }
        guard let shapeValues = entry["shape"] as? [Any],
              let shape = shapeValues.map({ integer($0) }) as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
            throw SafeTensorsError(source, "tensor '\(name)': shape must be a list of non-negative integers")
        }
        guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
              let begin = integer(offsets[0]), let end = integer(offsets[1]), begin >= 0, begin <= end, end <= dataSize else {
            throw SafeTensorsError(source, "tensor '\(name)': data_offsets must be [begin, end] within the \(dataSize) data bytes")
        }
        guard let elements = shape.checkedProduct, case let (bytes, false) = elements.multipliedReportingOverflow(by: dtype.byteSize),
              bytes == end - begin else {
            throw SafeTensorsError(source, "tensor '\(name)': shape \(shape) of \(dtype.rawValue) does not fill its \(end - begin) bytes")
        }
        return (name, dtype, shape, begin, end)
    }

    private static func integer(_ value: Any) -> Int? {
        value as? Int
    }
}

extension Array where Element == Int {
    /// The product of the dimensions, or nil when it overflows.
    var checkedProduct: Int? {
        var p = 1
        for d in self {
            let (r, o) = p.multipliedReportingOverflow(by: d)
            if o { return nil }
            p = r
        }
        return p
    }
}
