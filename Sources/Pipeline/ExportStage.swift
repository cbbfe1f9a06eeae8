import Compression
import Datasets
import Foundation
import NeuralNet
import ONNX
import ONNXExport

/// Export shared by `distillery export` and the `export:` stage of a job.
public enum ExportStage {
    public struct Summary: Encodable {
        public var model: String, onnx: String, form: String
        public var opset: Int, nodes: Int
        public var bytesOnDisk: Int
        enum CodingKeys: String, CodingKey {
            case model, onnx, form, opset, nodes
            case bytesOnDisk = "bytes_on_disk"
        }
    }

    /// The checkpoint at `path` as an ONNX file at `out`: fp32, or int8 QDQ for a quantized checkpoint.
    public static func export(model path: String, to out: String, opset: Int) throws -> Summary {
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
