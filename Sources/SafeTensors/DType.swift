/// The element types safetensors names in its header.
public enum DType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", i64 = "I64", u64 = "U64", f64 = "F64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .i64, .u64, .f64: return 8
        }
    }
}

/// One named tensor: its dtype, shape and raw little-endian bytes.
public struct TensorEntry: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "\(name): shape \(shape) does not match \(bytes.count) bytes")
        self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    public init(name: String, shape: [Int], floats: [Float]) {
        let bytes = floats.withUnsafeBytes { Array($0) }  // x86-64 and arm64 are little-endian, as the format is
        self.init(name: name, dtype: .f32, shape: shape, bytes: bytes)
    }

    /// A scalar I64 entry, as PyTorch stores counters (BatchNorm's num_batches_tracked).
    public init(name: String, int64 value: Int64) {
        self.init(name: name, dtype: .i64, shape: [], bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    /// The value of a scalar I64 entry; nil for anything else.
    public func int64Scalar() -> Int64? {
        guard dtype == .i64, shape.reduce(1, *) == 1, bytes.count == 8 else { return nil }
        return Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
    }

    /// The values as Float; only for F32 entries.
    public func floats() -> [Float]? {
        guard dtype == .f32 else { return nil }
        let count = bytes.count / 4
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                for i in 0..<count { buffer[i] = raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
            }
            initialized = count
        }
    }
}
