import ArgumentParser
import Compression
import Foundation
import NeuralNet

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a student to int8 for the int8 runtime: post-training or quantization-aware.",
        discussion: """
        BatchNorm is folded into the layer before it; Conv2d and Linear weights
        become symmetric int8 (scale max|w| / 127, per tensor or, with
        --per-channel, per output channel); each such layer's input is calibrated
        to uint8 on --sample training images by min-max, the 99.99th percentile,
        or the clip of least squared error (mse). --mode qat then fine-tunes
        --epochs with fake quantization (weights and inputs snapped to their
        grids in the forward pass, gradients passed straight through), on the
        job's or --teacher ensemble's distillation loss, or on hard labels;
        pruned weights stay zero and the file stays sparse. `eval` and
        `bench infer` run the output on oneDNN's u8 x s8 -> s32 GEMM.

        Example:
          distillery quantize --model student-pruned.safetensors --mode ptq \\
            --per-channel --calibration mse --out student-int8.safetensors
        """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case ptq, qat }

    @Option(help: "The checkpoint to quantize (dense or pruned).")
    var model: String

    @Option(help: "ptq (post-training) or qat (quantization-aware fine-tuning, --epochs).")
    var mode: Mode = .ptq

    @Flag(help: "One weight scale per output channel instead of one per tensor.")
    var perChannel = false

    @Option(help: "Activation calibration: minmax, percentile or mse.")
    var calibration: ActivationQuantization.Calibration = .minmax

    @Option(help: "Training images to calibrate on.")
    var sample: Int = 2000

    @OptionGroup var teacherOptions: TeacherOptions

    @Option(help: "qat: epochs of quantization-aware fine-tuning.")
    var epochs: Int = 2

    @Option(help: "qat: learning rate (Adam, cosine decay).")
    var lr: Float = 0.0003


    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Where to write the int8 checkpoint.")
    var out: String

    @Flag(help: "Print the summary as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard sample >= 1 else { throw ValidationError("--sample must be positive, got \(sample)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
    }

    func run() throws {
        compute.apply()
        let inputs = try CompressionInputs(model: model, job: teacherOptions.job, overrides: teacherOptions.overrides.settings, data: dataOptions)
        guard inputs.contents.quantized == nil else { throw ValidationError("\(model) is already quantized") }
        let network = inputs.contents.model
        let quantized: QuantizedModel
        switch mode {
        case .ptq:
            quantized = try QuantizedModel.postTraining(network, sample: inputs.sample(sample), perChannel: perChannel, calibration: calibration)
        case .qat:
            StopSignal.install()
            let seed = inputs.contents.metadata.seed ?? 0
            let tuner = try inputs.tuner(teacherOptions, learningRate: lr, seed: seed) { r in
                Terminal.status("  qat epoch \(r.epoch + 1): simulated int8 test_acc \(formatted(r.test?.accuracy ?? 0))")
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
        let runtime = try Int8Network(quantized)
        let summary = QuantizeSummary(model: model, out: out, mode: mode.rawValue, perChannel: perChannel, calibration: calibration.rawValue,
                                      floatAccuracy: floatAccuracy, int8Accuracy: inputs.accuracy { runtime.forward($0) },
                                      bytesIn: fileSize(model), bytesOut: fileSize(out))
        if json { try Terminal.printJSON(summary); return }
        Terminal.line("\(out): \(mode.rawValue) int8 \(perChannel ? "per-channel" : "per-tensor"), \(calibration.rawValue) calibration; accuracy float \(formatted(floatAccuracy * 100, 2)) %, int8 \(formatted(summary.int8Accuracy * 100, 2)) %; \(summary.bytesIn) -> \(summary.bytesOut) bytes")
    }
}

extension ActivationQuantization.Calibration: ExpressibleByArgument {}

struct QuantizeSummary: Encodable {
    var model: String, out: String, mode: String
    var perChannel: Bool
    var calibration: String
    var floatAccuracy: Double, int8Accuracy: Double
    var bytesIn: Int, bytesOut: Int

    enum CodingKeys: String, CodingKey {
        case model, out, mode, calibration
        case perChannel = "per_channel", floatAccuracy = "float_accuracy", int8Accuracy = "int8_accuracy"
        case bytesIn = "bytes_in", bytesOut = "bytes_out"
    }
}
