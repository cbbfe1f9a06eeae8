/// An ONNX model as Swift values: what the decoder makes of a file and what the encoder writes.
public struct OnnxModelDescription: Equatable, Sendable {
    public var irVersion: Int64 = 8
    /// The default domain's operator set version.
    public var opset: Int
    public var producer: String = ""
    public var graph: OnnxGraph
    public var metadata: [String: String] = [:]

    public init(opset: Int, graph: OnnxGraph, producer: String = "", metadata: [String: String] = [:], irVersion: Int64 = 8) {
        self.opset = opset; self.graph = graph; self.producer = producer; self.metadata = metadata; self.irVersion = irVersion
    }
}

public struct OnnxGraph: Equatable, Sendable {
    public var name: String
    public var nodes: [OnnxNode]
    public var initializers: [OnnxInitializer]
    public var inputs: [OnnxValueInfo]
    public var outputs: [OnnxValueInfo]

    public init(name: String, nodes: [OnnxNode], initializers: [OnnxInitializer], inputs: [OnnxValueInfo], outputs: [OnnxValueInfo]) {
        self.name = name; self.nodes = nodes; self.initializers = initializers; self.inputs = inputs; self.outputs = outputs
    }
}

/// TensorProto.DataType values (the ones Distillery reads or writes).
public enum OnnxDataType: Int32, Sendable {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13

    public var isFloat: Bool { self == .float || self == .float16 || self == .double }
}

/// A named constant tensor; `type` is its element type in the file (values are held as Float or Int64).
public struct OnnxInitializer: Equatable, Sendable {
    public var name: String
    public var type: OnnxDataType
    public var value: OnnxValue

    public init(name: String, type: OnnxDataType, value: OnnxValue) {
        self.name = name; self.type = type; self.value = value
    }
}

public struct OnnxValueInfo: Equatable, Sendable {
    public enum Dimension: Equatable, Sendable {
        case fixed(Int)
        case symbolic(String)
    }

    public var name: String
    public var type: OnnxDataType?
    /// nil when the file gives no shape.
    public var dimensions: [Dimension]?

    public init(name: String, type: OnnxDataType?, dimensions: [Dimension]?) {
        self.name = name; self.type = type; self.dimensions = dimensions
    }
}

public struct OnnxNode: Equatable, Sendable {
    public enum Attribute: Equatable, Sendable {
        case float(Float), int(Int64), string(String), tensor(OnnxInitializer)
        case floats([Float]), ints([Int64]), strings([String])
        /// Graphs, sparse tensors, type protos: read, never understood.
        case unsupported(kind: Int32)
    }

    public var name: String
    public var opType: String
    public var domain: String
    /// "" marks an optional input left out.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String], attributes: [String: Attribute] = [:]) {
        self.name = name; self.opType = opType; self.domain = domain; self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
    }
}
