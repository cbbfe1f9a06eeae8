import Compute
import Foundation
import NeuralNet
@testable import ONNX
import ONNXExport
import Testing

/// The protobuf-c ModelProto both ways, and what a broken or unsupported file gets instead of a crash.
@Suite struct OnnxFormatTests {
    static func smallModel() -> OnnxModelDescription {
        let graph = OnnxGraph(
            name: "g",
            nodes: [
                OnnxNode(name: "mm", opType: "Gemm", inputs: ["x", "w", "b"], outputs: ["y"], attributes: ["transB": .int(1), "alpha": .float(0.5)]),
                OnnxNode(name: "act", opType: "Relu", inputs: ["y"], outputs: ["z"]),
            ],
            initializers: [
                OnnxInitializer(name: "w", type: .float, value: OnnxValue(shape: [3, 4], floats: (0..<12).map { Float($0) - 5.5 })),
                OnnxInitializer(name: "b", type: .double, value: OnnxValue(shape: [3], floats: [0.5, -1, 2])),
                OnnxInitializer(name: "q", type: .int8, value: OnnxValue(shape: [2], ints: [-128, 127])),
            ],
            inputs: [OnnxValueInfo(name: "x", type: .float, dimensions: [.symbolic("batch"), .fixed(4)])],
            outputs: [OnnxValueInfo(name: "z", type: .float, dimensions: [.symbolic("batch"), .fixed(3)])])
        return OnnxModelDescription(opset: 17, graph: graph, producer: "test", metadata: ["k": "v"])
    }

    @Test func encodedModelDecodesToTheSameDescription() throws {
        let model = Self.smallModel()
        let decoded = try OnnxDecoder.decode(OnnxEncoder.encode(model), source: "memory", directory: nil)
        #expect(decoded == model)
    }

    @Test func decodedModelRunsTheGraph() throws {
        let runner = try OnnxModel(Self.smallModel(), source: "memory")
        #expect(runner.classes == 3 && runner.inputSize == 4)
        let x: [Float] = [1, 2, 3, 4, -1, 0, 1, 0.5]
        let out = try runner.runner.run(OnnxValue(shape: [2, 4], floats: x))
        let w = (0..<12).map { Float($0) - 5.5 }, b: [Float] = [0.5, -1, 2]
        var expected: [Float] = []
        for r in 0..<2 {
            for c in 0..<3 {
                var dot: Float = 0
                for k in 0..<4 { dot += x[r * 4 + k] * w[c * 4 + k] }
                expected.append(max(0, 0.5 * dot + b[c]))
            }
        }
        #expect(out == OnnxValue(shape: [2, 3], floats: expected))
    }

    @Test func garbageAndTruncatedFilesAreErrorsNamingTheFile() throws {
        let bytes = OnnxEncoder.encode(Self.smallModel())
        for broken in [[UInt8](repeating: 0xFF, count: 64), Array(bytes.prefix(bytes.count / 2))] {
            #expect(throws: OnnxError.self) { try OnnxDecoder.decode(broken, source: "broken.onnx", directory: nil) }
            do { _ = try OnnxDecoder.decode(broken, source: "broken.onnx", directory: nil) } catch {
                #expect("\(error)".hasPrefix("broken.onnx: "))
            }
        }
    }

    @Test func unsupportedOperatorsAndAttributesNameTheNode() throws {
        var model = Self.smallModel()
        model.graph.nodes[1].opType = "Einsum"
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { "\($0)".contains("node 'act' (Einsum): operator 'Einsum' is not supported") }
        model = Self.smallModel()
        model.graph.nodes[0].attributes["weird"] = .int(1)
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { "\($0)".contains("node 'mm' (Gemm): attribute 'weird' is not supported") }
        // Every node that cannot run is named at once, with the operators missing listed once each.
        model = Self.smallModel()
        model.graph.nodes[0].opType = "Einsum"
        model.graph.nodes[1].opType = "LSTM"
        model.graph.nodes.append(OnnxNode(name: "again", opType: "LSTM", inputs: [model.graph.nodes[1].outputs[0]], outputs: ["more"], attributes: [:]))
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { error in
            let text = "\(error)"
            return text.contains("3 nodes cannot run; operators missing: Einsum, LSTM") && text.contains("node 'mm' (Einsum): operator 'Einsum' is not supported")
                && text.contains("node 'act' (LSTM)") && text.contains("node 'again' (LSTM)")
        }
        model = Self.smallModel()
        model.opset = 9
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { "\($0)".contains("opset 9 is older than 11") }
        model = Self.smallModel()
        model.graph.nodes[1].inputs = ["nowhere"]
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { "\($0)".contains("reads 'nowhere'") }
    }

    @Test func shapeErrorsSurfaceWhenTheModelLoads() throws {
        var model = Self.smallModel()
        model.graph.inputs[0].dimensions = [.symbolic("batch"), .fixed(5)]
        #expect { try OnnxModel(model, source: "m.onnx") } throws: { "\($0)".contains("node 'mm' (Gemm): inner dimensions differ") }
    }
}
