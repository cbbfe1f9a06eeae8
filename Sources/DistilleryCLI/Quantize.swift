import ArgumentParser
import Compression
import CompressionSettings
import Pipeline

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


    @Option(help: "The checkpoint to quantize (dense or pruned).")
    var model: String

    @Option(help: "ptq (post-training) or qat (quantization-aware fine-tuning, --epochs).")
    var mode: QuantizationMode = .default

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
        StopSignal.install()
        let inputs = try CompressionInputs(model: model, teachers: teacherOptions, data: dataOptions, control: Terminal.control(tablesOnStdout: !json))
        var quantization = FileQuantization()
        quantization.mode = mode
        quantization.perChannel = perChannel
        quantization.calibration = calibration
        quantization.sample = sample
        quantization.epochs = epochs
        quantization.learningRate = lr
        quantization.teachers = teacherOptions.fineTuningTeachers
        let summary = try quantization.run(inputs, model: model, out: out)
        if json { try Terminal.printJSON(summary); return }
        Terminal.line("\(out): \(mode.rawValue) int8 \(perChannel ? "per-channel" : "per-tensor"), \(calibration.rawValue) calibration; accuracy float \(formatted(summary.floatAccuracy * 100, 2)) %, int8 \(formatted(summary.int8Accuracy * 100, 2)) %; \(summary.bytesIn) -> \(summary.bytesOut) bytes")
    }
}

extension ActivationQuantization.Calibration: ExpressibleByArgument {}

extension QuantizationMode: ExpressibleByArgument {}
