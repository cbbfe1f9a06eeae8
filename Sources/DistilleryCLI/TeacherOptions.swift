import ArgumentParser
import Pipeline

/// Where fine-tuning after pruning or during quantization-aware training learns from.
struct TeacherOptions: ParsableArguments {
    @Option(help: "Take the data, and the teachers, temperature, alpha and augmentation of fine-tuning, from this job; its teachers serve through a local cluster (coordinator and teacher processes) unless --in-process.")
    var job: String?

    @Option(name: .customLong("teacher"), help: "A teacher checkpoint for fine-tuning by distillation; repeat for an ensemble.")
    var teachers: [String] = []

    @Option(help: "Temperature with --teacher.")
    var temperature: Float = 2

    @Option(help: "Soft-target weight while fine-tuning (default: the job's alpha with --job, 0.5 with --teacher).")
    var alpha: Float?

    @Flag(help: "With --job: run the job's teachers in this process instead of through a local cluster (coordinator and teacher processes).")
    var inProcess = false

    @OptionGroup var overrides: JobOverrideOptions

    func validate() throws {
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive, got \(temperature)") }
        if let alpha, !(0...1).contains(alpha) { throw ValidationError("--alpha must be in 0...1, got \(alpha)") }
    }
}

extension TeacherOptions {
    var fineTuningTeachers: FineTuningTeachers {
        FineTuningTeachers(files: teachers, temperature: temperature, alpha: alpha, throughCluster: !inProcess)
    }
}

extension CompressionInputs {
    /// The model, then the job's data (or the command's), as `prune` and `quantize` take them.
    init(model path: String, teachers options: TeacherOptions, data: DataOptions, control: RunControl) throws {
        try self.init(model: path, job: options.job, overrides: options.overrides.settings, data: { try data.load(context: $0) }, control: control)
    }
}
