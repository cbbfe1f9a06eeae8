import ArgumentParser
import Compression
import Datasets
import Foundation
import NeuralNet
import ONNX
import ONNXExport

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a student to ONNX: fp32, or int8 in QDQ form for a quantized file.",
        discussion: """
        Dense and pruned checkpoints become fp32 graphs (Conv, Gemm, BatchNormalization, Relu, MaxPool, Flatten).
        An int8 file (distillery quantize) becomes QDQ: QuantizeLinear/DequantizeLinear on each layer's calibrated
        uint8 input, int8 weights dequantized per output channel (axis 0) or per tensor, int32 biases.
        A normalisation the checkpoint records becomes Sub and Div nodes, so the graph takes pixels in [0, 1].
        """
    )

    @Option(help: "Checkpoint (.safetensors): dense, pruned or int8.")
    var model: String

    @Option(help: "Where to write the ONNX model.")
    var onnx: String

    @Option(help: "ONNX opset (\(OnnxExport.opsets.lowerBound)...\(OnnxExport.opsets.upperBound); int8 needs \(OnnxExport.minimumQDQOpset) or later).")
    var opset = OnnxExport.defaultOpset

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard OnnxExport.opsets.contains(opset) else {
            throw ValidationError("--opset must be in \(OnnxExport.opsets.lowerBound)...\(OnnxExport.opsets.upperBound), got \(opset)")
        }
    }

    func run() throws {
        let summary = try ExportStage.export(model: model, to: onnx, opset: opset)
        if json { try Terminal.printJSON(summary); return }
        Terminal.line("\(onnx): \(summary.form) ONNX, opset \(opset), \(summary.nodes) nodes, \(summary.bytesOnDisk) bytes (from \(model))")
    }
}

/// Export shared by `distillery export` and the `export:` stage of a job.
enum ExportStage {
    struct Summary: Encodable {
        var model: String, onnx: String, form: String
        var opset: Int, nodes: Int
        var bytesOnDisk: Int
        enum CodingKeys: String, CodingKey {
            case model, onnx, form, opset, nodes
            case bytesOnDisk = "bytes_on_disk"
        }
    }

    static func export(model path: String, to out: String, opset: Int) throws -> Summary {
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let normalization = try contents.metadata.normalize.map { try Normalization(parsing: $0) }
        var metadata = CheckpointMetadata()
        metadata.source = URL(fileURLWithPath: path).lastPathComponent
        metadata.spec = contents.model.spec.text
        metadata.input = "pixels as the data set stores them (in [0, 1]); normalisation is in the graph"
        metadata.data = contents.metadata.data
        let description: OnnxModelDescription
        if let quantized = contents.quantized {
            metadata.weights = contents.format
            description = try OnnxExport.qdq(quantized, normalization: normalization, opset: opset, metadata: metadata.dictionary)
        } else {
            description = try OnnxExport.float(contents.model, normalization: normalization, opset: opset, metadata: metadata.dictionary)
        }
        try OnnxEncoder.write(description, to: URL(fileURLWithPath: out))
        return Summary(model: path, onnx: out, form: contents.quantized == nil ? "fp32" : "int8 QDQ", opset: opset,
                       nodes: description.graph.nodes.count, bytesOnDisk: fileSize(out))
    }
}
