/// A tensor ready to travel: its descriptor (for the envelope) and its frame bytes.
public struct WireTensor: Sendable {
    public var descriptor: TensorDescriptor
    public var frame: [UInt8]

    public enum Format: Sendable, Equatable {
        case float32, float16, int8
        /// Soft targets (rows, classes) as top-k with float32 or float16 values.
        case topK(Int, WireDType)
    }

    public init(name: String, values: [Float], shape: [Int], format: Format = .float32) {
        precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
        var scale: Float?
        let dtype: WireDType
        var encoding = TensorEncoding.dense
        switch format {
        case .float32: frame = TensorCodec.float32Bytes(values); dtype = .float32
        case .float16: frame = TensorCodec.float16Bytes(values); dtype = .float16
        case .int8:
            let q = TensorCodec.int8Bytes(values)
            frame = q.bytes; scale = q.scale; dtype = .int8
        case let .topK(k, valueType):
            precondition(shape.count == 2, "top-k needs (rows, classes)")
            frame = TopKCodec.encode(values, rows: shape[0], classes: shape[1], k: k, valueType: valueType)
            dtype = valueType
            encoding = .topK(k)
        }
        descriptor = TensorDescriptor(name: name, dtype: dtype, shape: shape, byteLength: frame.count,
                                      crc32c: CRC32C.checksum(frame), encoding: encoding, scale: scale)
    }

    /// A tensor over frame bytes already in wire format (e.g. reused between sends); computes the checksum.
    public init(name: String, frame: [UInt8], dtype: WireDType, shape: [Int], encoding: TensorEncoding = .dense, scale: Float? = nil) {
        self.frame = frame
        descriptor = TensorDescriptor(name: name, dtype: dtype, shape: shape, byteLength: frame.count,
                                      crc32c: CRC32C.checksum(frame), encoding: encoding, scale: scale)
        precondition(descriptor.expectedByteLength == frame.count, "\(name): \(frame.count) bytes for \(dtype) \(shape)")
    }

    /// Checks a received frame against its descriptor (size, then CRC-32C) and decodes it to Float.
    public static func decode(_ descriptor: TensorDescriptor, frame: UnsafeRawBufferPointer) throws -> [Float] {
        try verify(descriptor, frame: frame)
        return try decodeVerified(descriptor, frame: frame)
    }

    /// Decodes a frame `verify` has already checked (a `ReceivedMessage`'s): the CRC is computed once per message.
    public static func decodeVerified(_ descriptor: TensorDescriptor, frame: UnsafeRawBufferPointer) throws -> [Float] {
        switch descriptor.encoding {
        case .dense:
            return TensorCodec.decode(frame, dtype: descriptor.dtype, scale: descriptor.scale)
        case let .topK(k):
            return try TopKCodec.decode(frame, rows: descriptor.shape[0], classes: descriptor.shape[1], k: k,
                                        valueType: descriptor.dtype)
        }
    }

    public static func verify(_ descriptor: TensorDescriptor, frame: UnsafeRawBufferPointer) throws {
        guard frame.count == descriptor.byteLength else {
            throw WireError(.invalidTensor, "tensor '\(descriptor.name)': frame has \(frame.count) bytes, descriptor says \(descriptor.byteLength)")
        }
        let crc = CRC32C.checksum(frame)
        guard crc == descriptor.crc32c else {
            throw WireError(.checksum, "tensor '\(descriptor.name)': CRC-32C \(crc) != \(descriptor.crc32c)")
        }
    }
}
