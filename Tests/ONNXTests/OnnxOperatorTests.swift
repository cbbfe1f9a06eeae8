import Foundation
@testable import ONNX
import TestSupport
import Testing

/// Every supported operator against onnxruntime, on graphs built with onnx.helper (Tests/Peers/onnx_operator_cases.py):
/// padding, groups, dilation, ceil mode, broadcasting, opset-dependent semantics, PyTorch's shape arithmetic.
@Suite struct OnnxOperatorTests {
    struct Case: Decodable {
        var name: String
        var input_shape: [Int]
        var output_shape: [Int]
    }

    static func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { b in (0..<(data.count / 4)).map { b.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    @Test func everyOperatorMatchesOnnxRuntime() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-ops")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = try String(contentsOfFile: TestSupport.peerScript("onnx_operator_cases.py"), encoding: .utf8)
        guard let made = try TestSupport.python("OUT = \"\(dir.path)\"\n" + script, needs: ["onnx", "onnxruntime", "numpy"]) else { return }
        try #require(made.status == 0, "\(made.stderr)")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        #expect(cases.count >= 34)
        var operators = Set<String>()
        for c in cases {
            let model = try OnnxDecoder.load(dir.appendingPathComponent(c.name + ".onnx"))
            operators.formUnion(model.graph.nodes.map(\.opType))
            let runner = try OnnxRunner(model, source: c.name)
            let input = OnnxValue(shape: c.input_shape, floats: try Self.floats(dir.appendingPathComponent(c.name + ".input.bin")))
            let expected = try Self.floats(dir.appendingPathComponent(c.name + ".expected.bin"))
            let output = try runner.run(input)
            #expect(output.shape == c.output_shape, "\(c.name)")
            guard case let .float(values) = output.storage, values.count == expected.count else {
                Issue.record("\(c.name): got \(output.typeName) \(output.shape)")
                continue
            }
            let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4, "\(c.name): max abs difference \(worst)")
        }
        // The issue's list, minus Gemm/Conv/... covered by the PyTorch tests as well.
        let required: Set = ["Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Conv", "MaxPool", "AveragePool",
                             "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Softmax",
                             "Identity", "Dropout", "Constant", "Shape", "Gather", "Unsqueeze", "QuantizeLinear", "DequantizeLinear",
                             "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                             "ReduceLogSumExp", "LayerNormalization", "Gelu", "Erf", "Pow", "HardSigmoid", "HardSwish"]
        #expect(required.isSubset(of: operators), "not covered: \(required.subtracting(operators).sorted())")

        // Conv runs on oneDNN's primitive; its im2col fallback must agree with onnxruntime as well.
        for c in cases where c.name.hasPrefix("conv_") {
            let model = try OnnxDecoder.load(dir.appendingPathComponent(c.name + ".onnx"))
            let node = try #require(model.graph.nodes.first)
            let constants = Dictionary(uniqueKeysWithValues: model.graph.initializers.map { ($0.name, $0.value) })
            let input = OnnxValue(shape: c.input_shape, floats: try Self.floats(dir.appendingPathComponent(c.name + ".input.bin")))
            let context = NodeContext(node: node, opset: model.opset, inputs: node.inputs.map { $0 == "x" ? input : constants[$0] })
            let expected = try Self.floats(dir.appendingPathComponent(c.name + ".expected.bin"))
            for oneDNN in [true, false] {
                let out = try ConvolutionOperators.conv(context, oneDNN: oneDNN)[0]
                guard case let .float(values) = out.storage else { continue }
                let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? .infinity
                #expect(values.count == expected.count && worst <= 1e-4, "\(c.name), oneDNN \(oneDNN): \(worst)")
            }
        }
    }
}
