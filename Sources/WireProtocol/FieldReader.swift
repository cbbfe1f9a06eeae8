import CDistilleryProto
#if canImport(Glibc)
import Glibc
#endif

/// Turns unpacked C fields into checked Swift values: presence, enum ranges, UTF-8 and length limits.
struct FieldReader {
    let limits: WireLimits

    func text(_ p: UnsafePointer<CChar>?, _ field: String, maximum: Int, required: Bool = true) throws -> String? {
        guard let p else {
            if required { throw WireError(.malformed, "missing required field \(field)") }
            return nil
        }
        let length = strlen(p)
        guard length <= maximum else { throw WireError(.malformed, "\(field) is \(length) bytes, over the \(maximum)-byte limit") }
        guard let s = String(validatingCString: p) else { throw WireError(.malformed, "\(field) is not valid UTF-8") }
        return s
    }

    func identifier(_ p: UnsafePointer<CChar>?, _ field: String) throws -> String {
        let s = try text(p, field, maximum: limits.maximumIdentifierBytes)!
        guard !s.isEmpty else { throw WireError(.malformed, "\(field) is empty") }
        return s
    }

    func optionalIdentifier(_ p: UnsafePointer<CChar>?, _ field: String) throws -> String? {
        try text(p, field, maximum: limits.maximumIdentifierBytes, required: false)
    }

    /// A short binary field (a token or a key): at most the identifier limit.
    func bytes(_ b: ProtobufCBinaryData, _ field: String) throws -> [UInt8] {
        guard b.len <= limits.maximumIdentifierBytes else {
            throw WireError(.malformed, "\(field) is \(b.len) bytes, over the \(limits.maximumIdentifierBytes)-byte limit")
        }
        guard b.len > 0, let data = b.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: b.len))
    }

    func required<T>(_ has: protobuf_c_boolean, _ value: T, _ field: String) throws -> T {
        guard has != 0 else { throw WireError(.malformed, "missing required field \(field)") }
        return value
    }

    func count(_ n: Int, _ field: String) throws -> Int {
        guard n <= limits.maximumRepeated else { throw WireError(.malformed, "\(field) has \(n) entries, over the limit of \(limits.maximumRepeated)") }
        return n
    }

    func strings(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ field: String) throws -> [String] {
        var out: [String] = []
        for i in 0..<(try count(n, field)) { out.append(try identifier(p![i], "\(field)[\(i)]")) }
        return out
    }

    func ranges(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Distillery__ShardRange>?>?, _ field: String) throws -> [ShardRange] {
        var out: [ShardRange] = []
        for i in 0..<(try count(n, field)) {
            guard let r = p![i]?.pointee, r.has_begin != 0, r.has_end != 0, r.begin <= r.end else {
                throw WireError(.malformed, "\(field)[\(i)] must have begin <= end")
            }
            out.append(ShardRange(r.begin, r.end))
        }
        return out
    }

    func tensor(_ d: Distillery__TensorDescriptor, index: Int) throws -> TensorDescriptor {
        let name = try identifier(d.name, "tensors[\(index)].name")
        guard d.has_dtype != 0, let dtype = WireDType(rawValue: d.dtype.rawValue) else {
            throw WireError(.invalidTensor, "tensor '\(name)': missing or unknown dtype \(d.dtype.rawValue)")
        }
        guard d.n_shape <= limits.maximumRank else {
            throw WireError(.invalidTensor, "tensor '\(name)': rank \(d.n_shape) exceeds \(limits.maximumRank)")
        }
        var shape: [Int] = []
        for i in 0..<d.n_shape {
            let dim = d.shape[i]
            guard dim >= 0, dim <= Int64(Int32.max) else { throw WireError(.invalidTensor, "tensor '\(name)': dimension \(i) is \(dim)") }
            shape.append(Int(dim))
        }
        let byteLength = try required(d.has_byte_length, d.byte_length, "tensors[\(index)].byte_length")
        let crc = try required(d.has_crc32c, d.crc32c, "tensors[\(index)].crc32c")
        let encodingValue = try required(d.has_encoding, d.encoding, "tensors[\(index)].encoding")
        let encoding: TensorEncoding
        switch encodingValue {
        case DISTILLERY__TENSOR_ENCODING__TENSOR_ENCODING_DENSE:
            encoding = .dense
        case DISTILLERY__TENSOR_ENCODING__TENSOR_ENCODING_TOP_K:
            guard d.has_top_k != 0, shape.count == 2, d.top_k >= 1, Int(d.top_k) <= shape[1],
                  dtype == .float32 || dtype == .float16 else {
                throw WireError(.invalidTensor, "tensor '\(name)': top-k needs shape (rows, classes), 1 <= k <= classes and float values")
            }
            encoding = .topK(Int(d.top_k))
        default:
            throw WireError(.invalidTensor, "tensor '\(name)': unknown encoding \(encodingValue.rawValue)")
        }
        let scale: Float? = d.has_scale != 0 ? d.scale : nil
        if dtype == .int8 {
            guard let scale, scale.isFinite, scale > 0 else {
                throw WireError(.invalidTensor, "tensor '\(name)': int8 needs a positive finite scale")
            }
        }
        let descriptor = TensorDescriptor(name: name, dtype: dtype, shape: shape, byteLength: Int(clamping: byteLength),
                                          crc32c: crc, encoding: encoding, scale: scale)
        guard let expected = descriptor.expectedByteLength, UInt64(expected) == byteLength else {
            throw WireError(.invalidTensor, "tensor '\(name)': shape \(shape) of \(dtype) (\(encoding)) does not make \(byteLength) bytes")
        }
        guard expected <= limits.maximumTensorBytes else {
            throw WireError(.invalidTensor, "tensor '\(name)': \(expected) bytes exceed the \(limits.maximumTensorBytes)-byte limit")
        }
        return descriptor
    }
}
