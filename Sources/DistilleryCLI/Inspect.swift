import ArgumentParser
import Compression
import Foundation
import NeuralNet
import Pipeline
import SafeTensors

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's layers, shapes, parameter count, bytes on disk, storage format and sparsity.",
        discussion: """
        Reads any safetensors file; Distillery checkpoints also show their model spec
        and provenance. An ONNX model (.onnx) shows its inputs, outputs, operators,
        initializers and whether Distillery can run it.
        """
    )

    @Argument(help: "A .safetensors or .onnx file.")
    var file: String

    @Flag(help: "Print as JSON.")
    var json = false

    func run() throws {
        if file.lowercased().hasSuffix(".onnx") {
            let inspection = try OnnxInspection(file: file)
            if json { try Terminal.printJSON(inspection) } else { Terminal.line(inspection.text) }
            return
        }
        let url = URL(fileURLWithPath: file)
        let contents = try SafeTensorsFile.read(url)
        let bytesOnDisk = fileSize(file)
        let layers = contents.tensors.map { t -> InspectSummary.TensorInfo in
            let zeros = t.floats().map { v in v.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
            let elements = t.shape.reduce(1, *)
            return InspectSummary.TensorInfo(name: t.name, dtype: t.dtype.rawValue, shape: t.shape, parameters: elements,
                                             bytes: t.bytes.count,
                                             sparsity: zeros.map { elements == 0 ? 0 : Double($0) / Double(elements) })
        }
        var architecture: [String] = []
        if let model = try? Checkpoint.network(CheckpointMetadata(contents.metadata), source: file) {
            architecture = model.topLevel.flatMap { $0.layer.treeLines(name: $0.name) }  // blocks indented under their stage
        }
        let weights = try weightSummaries(contents, url: url)
        let summary = InspectSummary(
            file: file, bytesOnDisk: bytesOnDisk, spec: CheckpointMetadata(contents.metadata).spec,
            parameters: layers.reduce(0) { $0 + $1.parameters }, layers: architecture, weights: weights, tensors: layers,
            metadata: contents.metadata)
        if json { try Terminal.printJSON(summary); return }
        Terminal.line("\(file): \(bytesOnDisk) bytes on disk")
        if let spec = summary.spec { Terminal.line("model: \(spec)") }
        for line in architecture { Terminal.line("  \(line)") }
        if !weights.isEmpty {
            Terminal.line("weights:")
            for w in weights {
                Terminal.line("  \(w.name)  \(w.shape)  \(w.format)  sparsity \(formatted(w.sparsity * 100, 1))%  \(w.bytes) bytes")
            }
        }
        Terminal.line("tensors:")
        let width = max(layers.map(\.name.count).max() ?? 0, 4)
        for t in layers {
            let name = t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let sparsity = t.sparsity.map { "sparsity \(formatted($0 * 100, 1))%" } ?? ""
            Terminal.line("  \(name)  \(t.dtype) \(t.shape)  \(t.parameters) values  \(t.bytes) bytes  \(sparsity)")
        }
        Terminal.line("total: \(summary.parameters) values")
        for (key, value) in contents.metadata.sorted(by: { $0.key < $1.key }) where key != CheckpointMetadata.specKey {
            Terminal.line("  \(key) = \(value)")
        }
    }
}

extension Inspect {
    /// Per Conv2d/Linear weight of a Distillery checkpoint: storage, sparsity and the bytes of all its tensors.
    func weightSummaries(_ file: SafeTensorsFile, url: URL) throws -> [InspectSummary.WeightInfo] {
        guard CheckpointMetadata(file.metadata).spec != nil else { return [] }
        let contents = try CompressedCheckpoint.load(url)
        let int8 = contents.quantized != nil
        return PruningMasks.prunable(contents.model).map { name, parameter in
            let parts = file.tensors.filter { $0.name == name || $0.name.hasPrefix(name + ".") }
            let sparse = parts.contains { $0.name == name + ".mask" }
            let zeros = parameter.value.scalars.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
            return .init(name: name, shape: parameter.value.shape, format: (int8 ? "int8" : "f32") + (sparse ? " bitmask" : " dense"),
                         sparsity: Double(zeros) / Double(max(parameter.value.count, 1)), bytes: parts.reduce(0) { $0 + $1.bytes.count })
        }
    }
}

struct InspectSummary: Encodable {
    struct WeightInfo: Encodable {
        var name: String
        var shape: [Int]
        var format: String
        var sparsity: Double
        var bytes: Int
    }
    struct TensorInfo: Encodable {
        var name: String, dtype: String
        var shape: [Int]
        var parameters: Int, bytes: Int
        var sparsity: Double?
    }
    var file: String
    var bytesOnDisk: Int
    var spec: String?
    var parameters: Int
    var layers: [String]
    var weights: [WeightInfo]
    var tensors: [TensorInfo]
    var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case file, spec, parameters, layers, weights, tensors, metadata
        case bytesOnDisk = "bytes_on_disk"
    }
}
