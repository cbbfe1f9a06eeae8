import Cluster
import Compression
import Compute
import Datasets
import Foundation
import NeuralNet
import Training

/// What pruning and quantization share: the model, the data it was trained on and its normalisation, and the
/// teachers that fine-tuning learns from.
public struct CompressionInputs {
    public var contents: CompressedCheckpoint.Contents
    public var split: DataSplit
    public var normalization: Normalization?
    /// The job's teachers and training settings, when a job was given.
    public var job: JobContext?
    public let control: RunControl
    /// The `distillery` binary that fine-tuning through the cluster starts its daemons from.
    public var executable = LocalCluster.currentExecutable

    /// The model at `path`, then the job's data, else `data(context)` (a language model's context cuts a text into
    /// windows): a broken model file is reported before any data is read.
    public init(model path: String, job jobPath: String?, overrides: [String] = [], data: (Int?) throws -> DataSplit, control: RunControl) throws {
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let context = try jobPath.map { try JobContext.load(path: $0, overrides: overrides) }
        let model = contents.model
        try self.init(contents: contents, context: context,
                      split: context?.split ?? data(model.spec.isLanguageModel ? model.inputShape[0] : nil), control: control)
    }

    public init(model path: String, context: JobContext?, split: DataSplit, control: RunControl) throws {
        try self.init(contents: try CompressedCheckpoint.load(URL(fileURLWithPath: path)), context: context, split: split, control: control)
    }

    public init(contents: CompressedCheckpoint.Contents, context: JobContext?, split: DataSplit, control: RunControl) throws {
        self.contents = contents
        job = context
        self.split = split
        self.control = control
        normalization = try Normalization.setting(contents.metadata.normalize ?? "none", fittingTo: split.train)
        try checkCompatible(contents.model, split)
    }

    /// The first `count` training samples, normalised images or a text's windows: calibration and saliency samples.
    public func sample(_ count: Int) -> Tensor {
        split.train.batch(Array(0..<min(count, split.train.count)), normalization: normalization).images
    }

    public func accuracy(_ forward: (Tensor) -> Tensor) -> Double {
        Evaluation.run(forward, on: split.test, normalization: normalization).accuracy
    }

    public func accuracy(_ model: Network) -> Double { accuracy { model.forward($0, training: false) } }

    /// Fine-tuning on the job's teachers through a local cluster (hard labels when there is no job).
    public func jobTuner(learningRate: Float, seed: UInt64, alpha: Double? = nil, onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        try tuner(teacherPaths: [], temperature: 1, alpha: alpha.map(Float.init), throughCluster: true, learningRate: learningRate, seed: seed, onEpoch: onEpoch)
    }

    /// Fine-tuning by distillation, on the job's batch size and augmentation, Adam with cosine decay from
    /// `learningRate`: with a job and no `teacherPaths`, its teachers, through a local cluster (`throughCluster`) or
    /// in this process; else the `teacherPaths` checkpoints at `temperature`; hard labels without either. `alpha`
    /// nil is the job's (0.5 for teacher files).
    public func tuner(teacherPaths: [String], temperature: Float, alpha: Float?, throughCluster: Bool, learningRate: Float, seed: UInt64,
                      onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        var config = job?.studentConfig ?? TrainingConfig(batchSize: 128, seed: seed)
        config.optimizer = .adam
        config.learningRate = learningRate
        config.schedule = .cosine(minimum: 0)
        config.seed = seed
        var teachers: FineTuner.Teachers?
        if let job, teacherPaths.isEmpty, throughCluster {
            let cluster = ClusterFineTuning(context: job, control: control, executable: executable)
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
                         shouldStop: control.shouldStop, onEpoch: onEpoch)
    }

    /// Provenance carried over from the input checkpoint.
    public var inheritedMetadata: CheckpointMetadata { contents.metadata.provenance }
}
