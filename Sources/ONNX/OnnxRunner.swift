import Compute
import Foundation
import NeuralNet

/// An ONNX graph run on our backend: checked once (every operator and attribute known, every value produced
/// before it is read, one data input of known per-sample shape), then interpreted node by node.
public final class OnnxRunner {
    public let model: OnnxModelDescription
    public let source: String
    public let inputName: String
    /// The input's dimensions after the batch.
    public let sampleShape: [Int]
    /// Set when the file fixes the batch size; larger batches run in pieces of that size.
    public let fixedBatch: Int?
    private let constants: [String: OnnxValue]
    /// Per node, worked out once: its kernel, the declared types of its initializer inputs, and the values no later
    /// node reads (freed as the graph runs).
    private struct Step {
        var kernel: Operator
        var inputTypes: [OnnxDataType?]
        var frees: [String] = []
    }
    private let steps: [Step]

    public static let minimumOpset = 11

    public init(_ model: OnnxModelDescription, source: String) throws {
        self.model = model
        self.source = source
        func fail(_ message: String) -> OnnxError { OnnxError(file: source, message) }
        guard model.opset >= OnnxRunner.minimumOpset else {
            throw fail("opset \(model.opset) is older than \(OnnxRunner.minimumOpset), the oldest supported; re-export with opset_version >= \(OnnxRunner.minimumOpset)")
        }
        let graph = model.graph
        let constants = Dictionary(graph.initializers.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        self.constants = constants
        let constantTypes = Dictionary(graph.initializers.map { ($0.name, $0.type) }, uniquingKeysWith: { _, last in last })
        let dataInputs = graph.inputs.filter { constants[$0.name] == nil }
        guard dataInputs.count == 1, let input = dataInputs.first else {
            throw fail("expected one data input, found \(dataInputs.count) (\(dataInputs.map(\.name).joined(separator: ", ")))")
        }
        guard let dims = input.dimensions, dims.count >= 2 else {
            throw fail("input '\(input.name)' must declare a shape (batch, ...), got \(input.dimensions.map { "\($0)" } ?? "none")")
        }
        sampleShape = try dims.dropFirst().enumerated().map { i, d in
            guard case let .fixed(n) = d, n > 0 else {
                throw fail("input '\(input.name)' dimension \(i + 1) is \(d); only the batch dimension may vary")
            }
            return n
        }
        if case let .fixed(n) = dims[0], n > 0 { fixedBatch = n } else { fixedBatch = nil }
        inputName = input.name
        guard graph.outputs.first != nil else { throw fail("the graph has no output") }

        // Every node is known, and reads only what exists by then. What we cannot run is reported all at once, so
        // a user learns every missing operator from one try.
        var defined = Set(constants.keys).union([input.name])
        var lastRead: [String: Int] = [:]
        var steps: [Step] = []
        var unsupported: [String] = [], missingOperators: [String] = []
        for (index, node) in graph.nodes.enumerated() {
            let label = NodeLabel(name: node.name, op: node.opType)
            for name in node.inputs where !name.isEmpty {
                guard defined.contains(name) else { throw fail("\(label) reads '\(name)', which no earlier node, input or initializer produces") }
                lastRead[name] = index
            }
            defined.formUnion(node.outputs.filter { !$0.isEmpty })
            if !(node.domain.isEmpty || node.domain == "ai.onnx") {
                unsupported.append("\(label): domain '\(node.domain)' is not supported (only the default ONNX domain)")
            } else if let op = Operator.all[node.opType] {
                for name in node.attributes.keys.sorted() where !op.attributes.contains(name) {
                    unsupported.append("\(label): attribute '\(name)' is not supported")
                }
                steps.append(Step(kernel: op, inputTypes: node.inputs.map { constantTypes[$0] }))
            } else {
                unsupported.append("\(label): operator '\(node.opType)' is not supported")
                if !missingOperators.contains(node.opType) { missingOperators.append(node.opType) }
            }
        }
        if let first = unsupported.first {
            guard unsupported.count > 1 || !missingOperators.isEmpty else { throw fail(first) }
            let operators = missingOperators.isEmpty ? "" : "; operators missing: \(missingOperators.joined(separator: ", "))"
            throw fail("\(unsupported.count) node\(unsupported.count == 1 ? "" : "s") cannot run\(operators)\n  "
                       + unsupported.joined(separator: "\n  ") + "\n(supported: \(Operator.all.keys.sorted().joined(separator: ", ")))")
        }
        let output = graph.outputs[0].name
        guard defined.contains(output) else { throw fail("nothing produces the graph output '\(output)'") }
        for (name, index) in lastRead where constants[name] == nil && name != output { steps[index].frees.append(name) }
        self.steps = steps
    }

    public var inputSize: Int { sampleShape.reduce(1, *) }

    /// Runs the graph on `input` (batch, sampleShape...) and returns its first output.
    public func run(_ input: OnnxValue) throws -> OnnxValue {
        let graph = model.graph
        var values = constants
        values[inputName] = input
        for (node, step) in zip(graph.nodes, steps) {
            var context = NodeContext(node: node, opset: model.opset, inputs: node.inputs.map { $0.isEmpty ? nil : values[$0] })
            context.inputTypes = step.inputTypes
            let outputs: [OnnxValue]
            do { outputs = try step.kernel.run(context) } catch let error as OnnxError {
                throw OnnxError(file: source, error.description)
            }
            for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { values[name] = value }
            for name in step.frees { values[name] = nil }
        }
        let outputName = graph.outputs[0].name
        guard let result = values[outputName] else { throw OnnxError(file: source, "the graph did not produce '\(outputName)'") }
        return result
    }
}
