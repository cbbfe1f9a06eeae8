import Cluster
import Compression
import Datasets
import Foundation
import NeuralNet
import Training

/// `distillery eval`: a checkpoint (dense, pruned or int8) or an ONNX model on a data set's test split.
public enum ModelEvaluation {
    public struct Summary: Encodable {
        public var model: String, spec: String, data: String
        public var accuracy: Double, loss: Double
        public var samples: Int
        public var parameters: Int
        public var bytesOnDisk: Int
        public var format: String
        /// A byte-level language model's held-out loss in bits per byte (accuracy is then next-byte accuracy).
        public var bitsPerByte: Double?

        enum CodingKeys: String, CodingKey {
            case model, spec, data, accuracy, loss, samples, parameters, format
            case bytesOnDisk = "bytes_on_disk", bitsPerByte = "bits_per_byte"
        }
    }

    /// The context that cuts a text into windows for the checkpoint at `path`: its language model's.
    public static func context(of path: String) throws -> Int? {
        guard !path.lowercased().hasSuffix(".onnx") else { return nil }
        let network = try CompressedCheckpoint.load(URL(fileURLWithPath: path)).model
        return network.spec.isLanguageModel ? network.inputShape[0] : nil
    }

    /// Evaluates `path` on `split`'s test samples; `normalize` applies to an ONNX model (a checkpoint records its own).
    public static func evaluate(_ path: String, on split: DataSplit, normalize: NormalizationSetting) throws -> Summary {
        path.lowercased().hasSuffix(".onnx") ? try evaluateONNX(path, split, normalize: normalize) : try evaluateCheckpoint(path, split)
    }

    private static func evaluateONNX(_ path: String, _ split: DataSplit, normalize: NormalizationSetting) throws -> Summary {
        let loaded = try TeacherModel.load(path, normalize: normalize, fittingTo: split.train)
        guard loaded.model.inputSize == split.test.sampleSize, Int(split.test.labels.max() ?? 0) < loaded.model.classes else {
            throw PipelineError.unsuitableInput("\(path) reads \(loaded.model.inputSize) values and scores \(loaded.model.classes) classes; \(split.name) does not fit")
        }
        let result = try Evaluation.run(loaded.model.logits, on: split.test, normalization: loaded.normalization)
        return Summary(model: path, spec: loaded.model.summary, data: split.name, accuracy: result.accuracy, loss: result.loss,
                       samples: result.samples, parameters: loaded.model.parameterCount, bytesOnDisk: fileSize(path), format: "onnx")
    }

    private static func evaluateCheckpoint(_ path: String, _ split: DataSplit) throws -> Summary {
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let network = contents.model
        let normalization = try contents.metadata.normalize.map { try Normalization(parsing: $0) }
        try checkCompatible(network, split)
        let result = Evaluation.run(try contents.inference(), on: split.test, normalization: normalization)
        return Summary(model: path, spec: network.spec.text, data: split.name, accuracy: result.accuracy, loss: result.loss,
                       samples: result.samples, parameters: network.parameterCount, bytesOnDisk: fileSize(path), format: contents.format,
                       bitsPerByte: network.spec.isLanguageModel ? result.bitsPerByte : nil)
    }
}
