/// A tensor flowing through an ONNX graph: floats (FLOAT, DOUBLE, FLOAT16 become Float) or integers (every integer
/// type and BOOL become Int64, as shape arithmetic needs).
public struct OnnxValue: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case float([Float])
        case int([Int64])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.shape = shape
        storage = .float(floats)
    }

    public init(shape: [Int], ints: [Int64]) {
        precondition(shape.reduce(1, *) == ints.count, "shape \(shape) does not hold \(ints.count) values")
        self.shape = shape
        storage = .int(ints)
    }

    public var count: Int { shape.reduce(1, *) }
    public var isFloat: Bool { if case .float = storage { true } else { false } }
    public var typeName: String { isFloat ? "float" : "int64" }

    /// The float values; a kernel that needs floats reports an integer tensor as its node's error.
    func floats(_ node: NodeLabel, _ role: String) throws -> [Float] {
        guard case let .float(values) = storage else { throw node.error("\(role) must be a float tensor, got int64 \(shape)") }
        return values
    }

    func ints(_ node: NodeLabel, _ role: String) throws -> [Int64] {
        guard case let .int(values) = storage else { throw node.error("\(role) must be an integer tensor, got float \(shape)") }
        return values
    }

    /// The same values under another shape of the same size.
    func reshaped(_ newShape: [Int]) -> OnnxValue {
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// The values at `indices` (flat positions into this tensor), as a tensor of `shape`: transpose, gather
    /// and the like compute where each output element comes from, and this copies either type.
    func picking(_ indices: [Int], shape: [Int]) -> OnnxValue {
        switch storage {
        case let .float(v): OnnxValue(shape: shape, floats: indices.map { v[$0] })
        case let .int(v): OnnxValue(shape: shape, ints: indices.map { v[$0] })
        }
    }
}
