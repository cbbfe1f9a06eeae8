import Compression
import CompressionSettings
import Foundation
import NeuralNet

/// `distillery quantize`: one checkpoint to int8, post-training or quantization-aware, and what it cost.
public struct FileQuantization {
    public var mode: QuantizationMode = .default
    public var perChannel = false
    public var calibration: ActivationQuantization.Calibration = .minmax
    /// Training images to calibrate on.
    public var sample = 2000
    /// Quantization-aware training: epochs and learning rate (Adam, cosine decay), and whom it learns from.
    public var epochs = 2
    public var learningRate: Float = 0.0003
    public var teachers = FineTuningTeachers()

    public init() {}

    public struct Summary: Encodable {
        public var model: String, out: String, mode: String
        public var perChannel: Bool
        public var calibration: String
        public var floatAccuracy: Double, int8Accuracy: Double
        public var bytesIn: Int, bytesOut: Int

        enum CodingKeys: String, CodingKey {
            case model, out, mode, calibration
            case perChannel = "per_channel"
            case floatAccuracy = "float_accuracy", int8Accuracy = "int8_accuracy"
            case bytesIn = "bytes_in", bytesOut = "bytes_out"
        }
    }

    /// Quantizes the model of `inputs` (read from `model`) into `out`.
    public func run(_ inputs: CompressionInputs, model: String, out: String) throws -> Summary {
        let control = inputs.control
        guard inputs.contents.quantized == nil else { throw PipelineError.unsuitableInput("\(model) is already quantized") }
        let network = inputs.contents.model
        let quantized: QuantizedModel
        switch mode {
        case .ptq:
            quantized = try QuantizedModel.postTraining(network, sample: inputs.sample(sample), perChannel: perChannel, calibration: calibration)
        case .qat:
            let seed = inputs.contents.metadata.seed ?? 0
            let tuner = try inputs.tuner(teachers, learningRate: learningRate, seed: seed) { r in
                control.status("  qat epoch \(r.epoch + 1): simulated int8 test_acc \(formatted(r.test?.accuracy ?? 0))")
            }
            quantized = try QuantizationAwareTraining.run(network, sample: inputs.sample(sample), perChannel: perChannel,
                                                          calibration: calibration, tuner: tuner, epochs: epochs)
        }
        // A bitmask costs 1/8 byte per weight and saves a byte per zero: worth it above 1/8 sparsity.
        let sparse = PruningMasks.nonzero(quantized.float).sparsity > 0.125
        var metadata = inputs.inheritedMetadata
        metadata.quantization = "\(mode.rawValue) calibration=\(calibration.rawValue) sample=\(sample)" + (mode == .qat ? " epochs=\(epochs)" : "")
        if let normalization = inputs.normalization { metadata.normalize = normalization.text }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
        try CompressedCheckpoint.save(quantized, sparse: sparse, metadata: metadata, to: URL(fileURLWithPath: out))
        let floatAccuracy = inputs.accuracy(network)
        let runtime = try quantized.runtime()
        return Summary(model: model, out: out, mode: mode.rawValue, perChannel: perChannel, calibration: calibration.rawValue,
                       floatAccuracy: floatAccuracy, int8Accuracy: inputs.accuracy(runtime),
                       bytesIn: fileSize(model), bytesOut: fileSize(out))
    }
}
