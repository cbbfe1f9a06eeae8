import ArgumentParser
import Cluster
import Compression
import Compute
import Datasets
import Foundation
import NeuralNet
import Training

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

/// What `prune` and `quantize` share: the model, the data it was trained on and its normalisation, and the
/// teachers that fine-tuning learns from.
struct CompressionInputs {
    var contents: CompressedCheckpoint.Contents
    var split: DataSplit
    var normalization: Normalization?
    /// The job's teachers and training settings, when a job was given.
    var job: JobContext?

    init(model path: String, job jobPath: String?, overrides: [String] = [], data: DataOptions) throws {
        // The model first: a broken file is reported before any data is read.
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let context = try jobPath.map { try JobContext.load(path: $0, overrides: overrides) }
        try self.init(contents: contents, context: context, split: context?.split ?? data.load())
    }

    init(model path: String, context: JobContext?, split: DataSplit) throws {
        try self.init(contents: try CompressedCheckpoint.load(URL(fileURLWithPath: path)), context: context, split: split)
    }

    init(contents: CompressedCheckpoint.Contents, context: JobContext?, split: DataSplit) throws {
        self.contents = contents
        job = context
        self.split = split
        normalization = try Normalization.setting(contents.metadata.normalize ?? "none", fittingTo: split.train)
        try checkCompatible(contents.model, split)
    }

    /// The first `count` training images, normalised: calibration and saliency samples.
    func sample(_ count: Int) -> Tensor {
        split.train.batch(Array(0..<min(count, split.train.count)), normalization: normalization).images
    }

    func accuracy(_ forward: (Tensor) -> Tensor) -> Double {
        Evaluation.run(forward, on: split.test, normalization: normalization).accuracy
    }

    func accuracy(_ model: Sequential) -> Double { accuracy { model.forward($0, training: false) } }

    /// Fine-tuning: the job's (or --teacher) ensemble with its distillation loss, else hard labels; the job's
    /// augmentation and batch size; Adam with cosine decay from `learningRate`.
    func tuner(_ options: TeacherOptions, learningRate: Float, seed: UInt64, onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        try tuner(teacherPaths: options.teachers, temperature: options.temperature, alpha: options.alpha, throughCluster: !options.inProcess,
                  learningRate: learningRate, seed: seed, onEpoch: onEpoch)
    }

    /// Fine-tuning on the job's teachers (hard labels when there is no job).
    func jobTuner(learningRate: Float, seed: UInt64, alpha: Double? = nil, onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        try tuner(teacherPaths: [], temperature: 1, alpha: alpha.map(Float.init), throughCluster: true, learningRate: learningRate, seed: seed, onEpoch: onEpoch)
    }

    /// With a job, its teachers serve through a local cluster (`throughCluster`) or run in this process; `alpha` nil
    /// is the job's (0.5 for --teacher files).
    func tuner(teacherPaths: [String], temperature: Float, alpha: Float?, throughCluster: Bool, learningRate: Float, seed: UInt64,
               onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        var config = job?.studentConfig ?? TrainingConfig(batchSize: 128, seed: seed)
        config.optimizer = .adam
        config.learningRate = learningRate
        config.schedule = .cosine(minimum: 0)
        config.seed = seed
        var teachers: FineTuner.Teachers?
        if let job, teacherPaths.isEmpty, throughCluster {
            let cluster = ClusterFineTuning(context: job)
            teachers = .init(temperature: Float(job.spec.temperature), alpha: alpha ?? Float(job.spec.alpha), source: cluster.source)
        } else if let job, teacherPaths.isEmpty {
            let models = try job.spec.teachers.map { try TeacherModel.load($0, context: job).forStudent(normalization) }
            teachers = .init(models: models, temperature: Float(job.spec.temperature), alpha: alpha ?? Float(job.spec.alpha), rule: job.spec.combine,
                             passCuts: [job.plan.shardSize])
        } else if !teacherPaths.isEmpty {
            teachers = .init(models: try teacherPaths.map { try TeacherModel.load($0, fittingTo: split.train).forStudent(normalization) },
                             temperature: temperature, alpha: alpha ?? 0.5)
        }
        return FineTuner(train: split.train, test: split.test, config: config, normalization: normalization, teachers: teachers,
                         shouldStop: { StopSignal.isRequested }, onEpoch: onEpoch)
    }

    /// Provenance carried over from the input checkpoint.
    var inheritedMetadata: CheckpointMetadata { contents.metadata.provenance }
}

/// Bytes on disk; 0 when the file cannot be read.
func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
}
