import ArgumentParser
import ONNXExport
import Pipeline

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a student to ONNX: fp32, or int8 in QDQ form for a quantized file.",
        discussion: """
        Dense and pruned checkpoints become fp32 graphs (Conv, Gemm,
        BatchNormalization, Relu, MaxPool, Flatten). An int8 file (distillery
        quantize) becomes QDQ: QuantizeLinear/DequantizeLinear on each layer's
        calibrated uint8 input, int8 weights dequantized per output channel (axis 0)
        or per tensor, int32 biases. A normalisation the checkpoint records becomes
        Sub and Div nodes, so the graph takes pixels in [0, 1].
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
