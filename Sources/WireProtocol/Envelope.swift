/// Frame 1 of every message: who sent it, for which job, what kind it is, and which tensors follow.
public struct Envelope: Equatable, Sendable {
    /// The protocol version this build speaks.
    public static let currentVersion: UInt32 = 3

    public var version: UInt32
    public var jobID: String
    public var sender: String
    public var tensors: [TensorDescriptor]
    public var kind: MessageKind

    public init(jobID: String, sender: String, kind: MessageKind, tensors: [TensorDescriptor] = [],
                version: UInt32 = Envelope.currentVersion) {
        self.version = version; self.jobID = jobID; self.sender = sender; self.tensors = tensors; self.kind = kind
    }
}

/// Element types on the wire.
public enum WireDType: UInt32, Sendable {
    case float32 = 1, float16 = 2, int8 = 3, int32 = 4, uint8 = 5

    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16: return 2
        case .int8, .uint8: return 1
        }
    }
}

/// How a frame encodes a tensor's values.
public enum TensorEncoding: Equatable, Sendable {
    case dense
    /// Soft targets (rows, classes): per row k class indices, k values of the descriptor's dtype and the tail's
    /// mass (`TopKCodec`).
    case topK(Int)

    public var isTopK: Bool { if case .topK = self { return true } else { return false } }
}

/// Describes one tensor frame: what it holds and how to check it arrived whole.
public struct TensorDescriptor: Equatable, Sendable {
    public var name: String
    public var dtype: WireDType
    public var shape: [Int]
    public var byteLength: Int
    public var crc32c: UInt32
    public var encoding: TensorEncoding
    /// Symmetric int8 scale (value = scale * q) for .int8.
    public var scale: Float?

    public init(name: String, dtype: WireDType, shape: [Int], byteLength: Int, crc32c: UInt32,
                encoding: TensorEncoding = .dense, scale: Float? = nil) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.byteLength = byteLength
        self.crc32c = crc32c; self.encoding = encoding; self.scale = scale
    }

    /// The frame size the shape, dtype and encoding imply, or nil when it overflows.
    public var expectedByteLength: Int? {
        guard let elements = WireLimits.checkedProduct(shape) else { return nil }
        switch encoding {
        case .dense:
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            return overflow ? nil : bytes
        case let .topK(k):
            guard shape.count == 2, let row = TopKCodec.rowBytes(classes: shape[1], k: k, valueType: dtype) else { return nil }
            let (bytes, overflow) = shape[0].multipliedReportingOverflow(by: row)
            return overflow ? nil : bytes
        }
    }
}
