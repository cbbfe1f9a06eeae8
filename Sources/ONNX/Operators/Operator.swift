/// One supported ONNX operator: the attributes it understands (any other is refused when the model loads) and
/// its kernel, which sees the node's inputs and returns its outputs.
struct Operator: Sendable {
    let attributes: Set<String>
    let run: @Sendable (NodeContext) throws -> [OnnxValue]

    init(_ attributes: Set<String> = [], _ run: @escaping @Sendable (NodeContext) throws -> [OnnxValue]) {
        self.attributes = attributes
        self.run = run
    }

    /// Every operator by op_type (default domain). Dropout and Identity pass values through; Constant and the
    /// Shape/Gather/Unsqueeze family compute on int64 shapes as PyTorch's exporter emits them around Reshape.
    static let all: [String: Operator] = {
        var table: [String: Operator] = [:]
        for (name, op) in ElementwiseOperators.table { table[name] = op }
        for (name, op) in ConvolutionOperators.table { table[name] = op }
        for (name, op) in MatrixOperators.table { table[name] = op }
        for (name, op) in ShapeOperators.table { table[name] = op }
        for (name, op) in QuantizationOperators.table { table[name] = op }
        for (name, op) in ReductionOperators.table { table[name] = op }
        return table
    }()
}

/// A node at run time: its inputs, attributes and opset, with errors that name the node and operator.
struct NodeContext {
    let node: OnnxNode
    let opset: Int
    let inputs: [OnnxValue?]
    /// Element types of inputs that are initializers (integer values are held as Int64; some kernels need the
    /// declared type).
    var inputTypes: [OnnxDataType?] = []

    var label: NodeLabel { NodeLabel(name: node.name, op: node.opType) }
    func error(_ message: String) -> OnnxError { label.error(message) }

    func input(_ index: Int, _ role: String) throws -> OnnxValue {
        guard index < inputs.count, let value = inputs[index] else { throw error("input \(index) (\(role)) is missing") }
        return value
    }

    func optionalInput(_ index: Int) -> OnnxValue? { index < inputs.count ? inputs[index] : nil }

    func inputType(_ index: Int) -> OnnxDataType? { index < inputTypes.count ? inputTypes[index] : nil }

    func floats(_ index: Int, _ role: String) throws -> [Float] { try input(index, role).floats(label, role) }

    func int(_ name: String, default value: Int) throws -> Int {
        switch node.attributes[name] {
        case nil: return value
        case let .int(v)?: return Int(v)
        default: throw error("attribute '\(name)' must be an int")
        }
    }

    func ints(_ name: String) throws -> [Int]? {
        switch node.attributes[name] {
        case nil: return nil
        case let .ints(v)?: return v.map(Int.init)
        default: throw error("attribute '\(name)' must be a list of ints")
        }
    }

    func float(_ name: String, default value: Float) throws -> Float {
        switch node.attributes[name] {
        case nil: return value
        case let .float(v)?: return v
        default: throw error("attribute '\(name)' must be a float")
        }
    }

    func string(_ name: String, default value: String) throws -> String {
        switch node.attributes[name] {
        case nil: return value
        case let .string(v)?: return v
        default: throw error("attribute '\(name)' must be a string")
        }
    }

    /// A (possibly negative) axis of a rank-`rank` tensor, checked.
    func axis(_ value: Int, rank: Int, name: String = "axis") throws -> Int {
        let a = value < 0 ? value + rank : value
        guard a >= 0 && a < rank else { throw error("\(name) \(value) is out of range for rank \(rank)") }
        return a
    }
}

/// Row-major strides of a shape.
func strides(of shape: [Int]) -> [Int] {
    var result = [Int](repeating: 1, count: shape.count)
    var step = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        result[i] = step
        step *= shape[i]
    }
    return result
}
