import Compression
import ONNX
import Datasets
import NeuralNet

/// Our networks as ONNX graphs that take pixels as the data set stores them (in [0, 1]): a recorded normalisation
/// becomes Sub and Div nodes at the front. fp32 maps module by module; int8 is QDQ: each Conv/Gemm input passes
/// QuantizeLinear/DequantizeLinear on its calibrated uint8 grid, weights are int8 initializers dequantized per
/// output channel (`axis` 0) or per tensor, biases int32 on the scale input_scale * weight_scale.
public enum OnnxExport {
    public static let defaultOpset = 17
    public static let opsets = 11...21
    /// DequantizeLinear gained `axis` (per-channel) in opset 13.
    public static let minimumQDQOpset = 13

    public static func float(_ network: Network, normalization: Normalization?, opset: Int = defaultOpset,
                             metadata: [String: String] = [:]) throws -> OnnxModelDescription {
        try check(opset, minimum: opsets.lowerBound)
        var g = GraphBuilder()
        return try g.export(network, normalization: normalization, opset: opset, metadata: metadata)
    }

    public static func qdq(_ quantized: QuantizedModel, normalization: Normalization?, opset: Int = defaultOpset,
                           metadata: [String: String] = [:]) throws -> OnnxModelDescription {
        try check(opset, minimum: minimumQDQOpset)
        let network = quantized.float
        let modules = Set(network.namedModules.map(\.path))
        if let stray = quantized.layers.first(where: { !modules.contains($0.path) }) {
            throw OnnxError("quantized layer '\(stray.path)' is not in \(network.spec.text)")
        }
        var g = GraphBuilder()
        g.quantized = Dictionary(quantized.layers.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        g.points = quantized.points
        return try g.export(network, normalization: normalization, opset: opset, metadata: metadata)
    }

    private static func check(_ opset: Int, minimum: Int) throws {
        guard opset >= minimum && opset <= opsets.upperBound else {
            throw OnnxError("opset \(opset) is not supported for this export (use \(minimum)...\(opsets.upperBound))")
        }
    }
}

/// Nodes and initializers of a graph under construction; every node gets one output named after the node.
struct GraphBuilder {
    var nodes: [OnnxNode] = []
    var initializers: [OnnxInitializer] = []
    /// Token ids in (int64, as PyTorch exports them) and (batch, T, vocabulary) scores out; Linear layers act on
    /// the last axis (MatMul) rather than on rows (Gemm).
    var languageModel = false
    /// A language model's sequence length, fixed by its declared input.
    var context = 0
    /// Each exported parameter's initializer, so a shared table (weight tying) is stored once.
    var initializerNames: [ObjectIdentifier: String] = [:]
    /// The int8 layers by module path: their inputs pass QuantizeLinear/DequantizeLinear, their weights are int8.
    var quantized: [String: QuantizedModel.Layer] = [:]
    /// A quantized tree's quantization points: the Conv or Add output at each passes QuantizeLinear/DequantizeLinear
    /// on its grid, as the int8 runtime keeps it in bytes there.
    var points: [String: ActivationQuantization] = [:]

    mutating func export(_ network: Network, normalization: Normalization?, opset: Int, metadata: [String: String]) throws -> OnnxModelDescription {
        languageModel = network.spec.isLanguageModel
        context = network.inputShape.first ?? 0
        if languageModel && opset < 17 { throw OnnxError("a language model's export needs opset 17 or later (LayerNormalization), not \(opset)") }
        let x = languageModel ? "input" : normalize("input", normalization, rank: network.inputShape.count + 1)
        let output = try network.topLevel.reduce(x) { value, child in try module(child.layer, path: child.name, input: value) }
        return model(network, output: output, opset: opset, metadata: metadata)
    }

    /// What a Conv or Gemm at `path` reads: its input, weight and bias, float or (for an int8 layer) dequantized
    /// from the integers, the input through its uint8 grid.
    mutating func gemmOperands(_ layer: Layer, path: String, input: String) -> (input: String, weight: String, bias: String)? {
        guard let (weight, bias) = gemmParameters(layer) else { return nil }
        guard let q = quantized[path] else { return (input, parameter("\(path).weight", weight), parameter("\(path).bias", bias)) }
        let inputScale = constant("\(path).input_scale", .float, [], floats: [q.input.scale])
        let inputZero = constant("\(path).input_zero_point", .uint8, [], ints: [Int64(q.input.zero)])
        let quantizedInput = node("QuantizeLinear", [input, inputScale, inputZero], name: "\(path).quantize_input")
        let x = node("DequantizeLinear", [quantizedInput, inputScale, inputZero], name: "\(path).dequantize_input")
        let rows = q.weights.shape[0]
        let perChannel = q.weights.scales.count > 1
        let scaleShape = perChannel ? [rows] : []
        let weightValues = constant("\(path).weight_quantized", .int8, q.weights.shape, ints: q.weights.values.map(Int64.init))
        let weightScale = constant("\(path).weight_scale", .float, scaleShape, floats: q.weights.scales)
        let weightZero = constant("\(path).weight_zero_point", .int8, scaleShape, ints: [Int64](repeating: 0, count: q.weights.scales.count))
        let dequantizedWeight = node("DequantizeLinear", [weightValues, weightScale, weightZero], name: "\(path).weight",
                                     attributes: perChannel ? ["axis": .int(0)] : [:])
        let biasScales = (0..<rows).map { q.input.scale * q.weights.scale(row: $0) }
        let biasValues = zip(q.bias, biasScales).map { b, s in Int64(max(min((b / s).rounded(), Float(Int32.max)), Float(Int32.min))) }
        let dequantizedBias = node("DequantizeLinear", [
            constant("\(path).bias_quantized", .int32, [rows], ints: biasValues),
            constant("\(path).bias_scale", .float, [rows], floats: biasScales),
            constant("\(path).bias_zero_point", .int32, [rows], ints: [Int64](repeating: 0, count: rows)),
        ], name: "\(path).bias", attributes: ["axis": .int(0)])
        return (x, dequantizedWeight, dequantizedBias)
    }

    mutating func parameter(_ name: String, _ p: Parameter) -> String {
        if let existing = initializerNames[ObjectIdentifier(p)] { return existing }
        initializerNames[ObjectIdentifier(p)] = name
        return constant(name, .float, p.value.shape, floats: p.value.scalars)
    }

    mutating func constant(_ name: String, _ type: OnnxDataType, _ shape: [Int], floats: [Float]) -> String {
        initializers.append(OnnxInitializer(name: name, type: type, value: OnnxValue(shape: shape, floats: floats)))
        return name
    }

    mutating func constant(_ name: String, _ type: OnnxDataType, _ shape: [Int], ints: [Int64]) -> String {
        initializers.append(OnnxInitializer(name: name, type: type, value: OnnxValue(shape: shape, ints: ints)))
        return name
    }

    mutating func node(_ op: String, _ inputs: [String], name: String, attributes: [String: OnnxNode.Attribute] = [:]) -> String {
        nodes.append(OnnxNode(name: name, opType: op, inputs: inputs, outputs: [name], attributes: attributes))
        return name
    }

    /// (x - mean) / std per channel (axis 1), or `input` untouched.
    mutating func normalize(_ input: String, _ normalization: Normalization?, rank: Int) -> String {
        guard let n = normalization else { return input }
        let shape = [1, n.mean.count] + [Int](repeating: 1, count: max(rank - 2, 0))
        let mean = constant("normalize.mean", .float, shape, floats: n.mean)
        let std = constant("normalize.std", .float, shape, floats: n.std)
        return node("Div", [node("Sub", [input, mean], name: "normalize.sub"), std], name: "normalize.div")
    }

    /// A module and its children as ONNX nodes named by module path; initializers keep the checkpoint's names.
    mutating func module(_ layer: Layer, path: String, input: String) throws -> String {
        if let graph = layer as? Graph {
            var values = [Graph.input: input]
            for node in graph.nodes {
                switch node {
                case let .call(child, from, output):
                    let inner = graph.children.first { $0.name == child }!.layer
                    values[output] = try module(inner, path: "\(path).\(child)", input: values[from]!)
                case let .add(inputs, output):
                    let sum = inputs.dropFirst().enumerated().reduce(values[inputs[0]]!) { sum, next in
                        self.node("Add", [sum, values[next.element]!], name: "\(path).\(output)" + (next.offset > 0 ? ".\(next.offset)" : ""))
                    }
                    values[output] = snap(sum, at: "\(path).\(output)")
                }
            }
            return values[graph.nodes.last!.output]!
        }
        if let attention = layer as? CausalSelfAttention { return attend(attention, path: path, input: input) }
        if !layer.children.isEmpty {
            return try layer.children.reduce(input) { value, child in try module(child.layer, path: "\(path).\(child.name)", input: value) }
        }
        guard let (x, weight, bias) = gemmOperands(layer, path: path, input: input) else {
            return try self.layer(layer, name: path, input: input, tensors: nil)
        }
        return snap(try self.layer(layer, name: path, input: x, tensors: (weight, bias)), at: path)
    }

    /// `value` through QuantizeLinear/DequantizeLinear when `key` is a quantization point, else itself.
    mutating func snap(_ value: String, at key: String) -> String {
        guard let grid = points[key] else { return value }
        let scale = constant("\(key).output_scale", .float, [], floats: [grid.scale])
        let zero = constant("\(key).output_zero_point", .uint8, [], ints: [Int64(grid.zero)])
        return node("DequantizeLinear", [node("QuantizeLinear", [value, scale, zero], name: "\(key).quantize_output"), scale, zero],
                    name: "\(key).dequantize_output")
    }

    /// One of our layers as ONNX nodes; `tensors` names the weight and bias a Conv or Gemm reads.
    mutating func layer(_ layer: Layer, name: String, input: String, tensors: (weight: String, bias: String)?) throws -> String {
        func weightAndBias() throws -> [String] {
            guard let tensors else { throw OnnxError("\(layer.summary) has no weight and bias to export") }
            return [tensors.weight, tensors.bias]
        }
        switch layer {
        case let conv as Conv2d:
            let p = Int64(conv.padding), s = Int64(conv.stride), k = Int64(conv.kernel)
            return node("Conv", [input] + (try weightAndBias()), name: "\(name).conv",
                        attributes: ["kernel_shape": .ints([k, k]), "pads": .ints([p, p, p, p]), "strides": .ints([s, s]),
                                     "group": .int(Int64(conv.groups))])
        case is Linear where languageModel:
            let (weight, bias) = (try weightAndBias()[0], try weightAndBias()[1])
            let transposed = node("Transpose", [weight], name: "\(name).weight_t", attributes: ["perm": .ints([1, 0])])
            return node("Add", [node("MatMul", [input, transposed], name: "\(name).matmul"), bias], name: "\(name).add")
        case let table as Embedding:
            return node("Gather", [parameter("\(name).weight", table.weight), input], name: "\(name).gather", attributes: ["axis": .int(0)])
        case let positions as PositionalEmbedding:
            // The input holds the whole context (its declared shape), so the table adds as it is.
            return node("Add", [input, parameter("\(name).weight", positions.weight)], name: "\(name).add")
        case let head as OutputProjection:
            let transposed = node("Transpose", [parameter("\(name).weight", head.weight)], name: "\(name).weight_t", attributes: ["perm": .ints([1, 0])])
            return node("MatMul", [input, transposed], name: "\(name).matmul")
        case let norm as LayerNorm:
            return node("LayerNormalization", [input, parameter("\(name).weight", norm.weight), parameter("\(name).bias", norm.bias)],
                        name: "\(name).layer_norm", attributes: ["axis": .int(-1), "epsilon": .float(norm.epsilon)])
        case let gelu as GELU:
            return self.gelu(input, tanh: gelu.approximation == .tanh, name: name)
        case is SiLU:
            return node("Mul", [input, node("Sigmoid", [input], name: "\(name).sigmoid")], name: "\(name).silu")
        case is Linear:
            return node("Gemm", [input] + (try weightAndBias()), name: "\(name).gemm",
                        attributes: ["transB": .int(1)])
        case let norm as BatchNorm:
            let tensors = [("weight", norm.gamma), ("bias", norm.beta), ("running_mean", norm.runningMean), ("running_var", norm.runningVariance)]
                .map { constant("\(name).\($0.0)", .float, $0.1.value.shape, floats: $0.1.value.scalars) }
            return node("BatchNormalization", [input] + tensors, name: "\(name).batch_norm", attributes: ["epsilon": .float(norm.epsilon)])
        case is ReLU:
            return node("Relu", [input], name: "\(name).relu")
        case is ReLU6:
            // Clip's bounds are inputs from opset 11 on.
            let low = constant("\(name).min", .float, [], floats: [0]), high = constant("\(name).max", .float, [], floats: [6])
            return node("Clip", [input, low, high], name: "\(name).relu6")
        case let pool as AvgPool2d:
            let k = Int64(pool.kernel)
            return node("AveragePool", [input], name: "\(name).avg_pool", attributes: ["kernel_shape": .ints([k, k]), "strides": .ints([k, k])])
        case is GlobalAvgPool2d:
            return node("GlobalAveragePool", [input], name: "\(name).global_avg_pool")
        case let pool as MaxPool2d:
            let k = Int64(pool.kernel), s = Int64(pool.stride)
            return node("MaxPool", [input], name: "\(name).max_pool", attributes: ["kernel_shape": .ints([k, k]), "strides": .ints([s, s])])
        case is Flatten:
            return node("Flatten", [input], name: "\(name).flatten", attributes: ["axis": .int(1)])
        case is Dropout:
            return input  // inference: the identity
        default:
            throw OnnxError("cannot export \(layer.summary) to ONNX")
        }
    }

    mutating func model(_ network: Network, output: String, opset: Int, metadata: [String: String]) -> OnnxModelDescription {
        let output = node("Identity", [output], name: "logits")
        let batch = OnnxValueInfo.Dimension.symbolic("batch")
        let graph = OnnxGraph(
            name: "distillery", nodes: nodes, initializers: initializers,
            inputs: [OnnxValueInfo(name: "input", type: languageModel ? .int64 : .float,
                                   dimensions: [batch] + network.inputShape.map { .fixed($0) })],
            outputs: [OnnxValueInfo(name: output, type: .float, dimensions: [batch] + network.outputShape.map { .fixed($0) })])
        return OnnxModelDescription(opset: opset, graph: graph, producer: "distillery", metadata: metadata)
    }
}
