import Foundation
import ONNX
import Pipeline

/// `distillery inspect FILE.onnx`: the graph's inputs, outputs, operators, initializers and metadata, and whether
/// Distillery can run it (and with how many classes) or which node stops it.
struct OnnxInspection: Encodable {
    struct Initializer: Encodable {
        var name: String, type: String, shape: [Int], bytes: Int
    }

    var file: String
    var bytesOnDisk: Int
    var producer: String
    var opset: Int
    var inputs: [String]
    var outputs: [String]
    var operators: [String: Int]
    var initializers: [Initializer]
    var parameters: Int
    var metadata: [String: String]
    var runnable: Bool
    var classes: Int?
    var problem: String?

    enum CodingKeys: String, CodingKey {
        case file, producer, opset, inputs, outputs, operators, initializers, parameters, metadata, runnable, classes, problem
        case bytesOnDisk = "bytes_on_disk"
    }

    init(file: String) throws {
        let model = try OnnxDecoder.load(URL(fileURLWithPath: file))
        self.file = file
        bytesOnDisk = fileSize(file)
        producer = model.producer
        opset = model.opset
        func describe(_ v: OnnxValueInfo) -> String {
            let dims = v.dimensions.map { d in d.map { if case let .fixed(n) = $0 { "\(n)" } else if case let .symbolic(s) = $0 { s } else { "?" } } }
            return "\(v.name) \(v.type.map { "\($0)" } ?? "?") [\(dims?.joined(separator: ", ") ?? "?")]"
        }
        let initializerNames = Set(model.graph.initializers.map(\.name))
        inputs = model.graph.inputs.filter { !initializerNames.contains($0.name) }.map(describe)
        outputs = model.graph.outputs.map(describe)
        operators = Dictionary(model.graph.nodes.map { ($0.opType, 1) }, uniquingKeysWith: +)
        initializers = model.graph.initializers.map { Initializer(name: $0.name, type: "\($0.type)", shape: $0.value.shape, bytes: $0.value.count * $0.type.byteSize) }
        parameters = model.graph.initializers.filter(\.type.isFloat).reduce(0) { $0 + $1.value.count }
        metadata = model.metadata
        do {
            classes = try OnnxModel(model, source: file).classes
            runnable = true
        } catch {
            runnable = false
            problem = "\(error)"
        }
    }

    var text: String {
        var lines = ["\(file): \(bytesOnDisk) bytes on disk, ONNX opset \(opset)\(producer.isEmpty ? "" : ", from \(producer)")"]
        lines += inputs.map { "input:  \($0)" } + outputs.map { "output: \($0)" }
        lines.append("operators: " + operators.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        lines.append("initializers:")
        let width = max(initializers.map(\.name.count).max() ?? 0, 4)
        lines += initializers.map { "  \($0.name.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.type) \($0.shape)  \($0.bytes) bytes" }
        lines.append("parameters (float): \(parameters)")
        lines += metadata.sorted { $0.key < $1.key }.map { "  \($0.key) = \($0.value)" }
        lines.append(runnable ? "runs in Distillery: yes, \(classes ?? 0) classes" : "runs in Distillery: no: \(problem ?? "")")
        return lines.joined(separator: "\n")
    }
}
