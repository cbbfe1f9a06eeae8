import Datasets
import Foundation
import Jobs
import NeuralNet
import Training

/// What every daemon derives from the job file: the spec, the data (read locally, as from a shared file
/// system), the student's input normalisation and the plan of work.
public struct JobContext: @unchecked Sendable {
    public let spec: JobSpec
    public let yaml: String
    /// The directory the job's relative paths resolve against.
    public let directory: String
    public let split: DataSplit
    public let normalization: Normalization?
    public let plan: WorkPlan

    public init(yaml: String, directory: String, file: String = "job.yaml") throws {
        let spec = try JobSpec.parse(yaml, file: file, baseDirectory: directory)
        var split: DataSplit
        let student = spec.student.model
        if spec.data.source.isText {
            guard student.isLanguageModel else {
                throw JobError(file: file, line: spec.data.line, "data.dataset: \(spec.data.source) is text, which feeds byte-level language models; the student \(student.text) is not one (use a gpt: model)")
            }
            guard spec.data.augmentation.isIdentity, spec.data.normalize == .none else {
                throw JobError(file: file, line: spec.data.line, "data: a text's token ids are neither augmented nor normalised; drop 'augment' and 'normalize'")
            }
        } else if student.isLanguageModel {
            throw JobError(file: file, line: spec.data.line, "data.dataset: the student \(student.text) is a language model; give it text (shakespeare or text:PATH), not \(spec.data.source)")
        }
        do { split = try spec.data.source.load(context: student.isLanguageModel ? student.inputShape[0] : nil) } catch {
            throw JobError(file: file, line: spec.data.line, "data.dataset: \(error)")
        }
        let classes = spec.student.model.classes
        for (part, images) in [("training", split.train), ("test", split.test)] {
            if let index = images.labels.firstIndex(where: { Int($0) >= classes }) {
                throw JobError(file: file, line: spec.data.line, "data.dataset: \(split.name): \(part) sample \(index) has label \(images.labels[index]), but the student has \(classes) classes (0...\(classes - 1))")
            }
        }
        split.train = split.train.prefix(spec.data.limit)
        split.test = split.test.prefix(spec.data.testLimit)
        try self.init(spec: spec, yaml: yaml, directory: directory, split: split)
    }

    public init(spec: JobSpec, yaml: String, directory: String, split: DataSplit) throws {
        self.spec = spec
        self.yaml = yaml
        self.directory = directory
        self.split = split
        normalization = spec.data.normalize.resolve(fittingTo: split.train)
        plan = WorkPlan(job: spec, sampleCount: split.train.count)
    }

    /// Reads a job file, with `overrides` (`--set KEY=VALUE`) applied; relative paths resolve against its directory,
    /// or against `directory` (a job file written elsewhere for another job's data).
    public static func load(path: String, overrides: [String] = [], directory: String? = nil) throws -> JobContext {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw JobError(file: path, line: nil, "cannot read the job file")
        }
        let directory = directory ?? URL(fileURLWithPath: path).deletingLastPathComponent().path
        let yaml = try JobOverrides.apply(overrides, to: text, file: path)
        return try JobContext(yaml: yaml, directory: directory, file: overrides.isEmpty ? path : "\(path) with --set")
    }

    /// How the student trains, in the cluster, alone (the baseline) or in one process (`distill --job`).
    public var studentConfig: TrainingConfig {
        TrainingConfig(epochs: spec.student.epochs, batchSize: spec.student.batchSize,
                       optimizer: spec.student.optimizer,
                       learningRate: Float(spec.student.learningRate), schedule: spec.student.schedule,
                       seed: spec.seed, augmentation: spec.data.augmentation)
    }

    /// What a student distilled for this job records about how it was made: the same in the cluster and in one
    /// process (`distill --job`).
    public func distillationProvenance(epochs: Int) -> CheckpointMetadata {
        var m = CheckpointMetadata()
        m.data = spec.data.source.description
        m.job = spec.name
        m.epochs = epochs
        m.seed = spec.seed
        m.batchSize = spec.student.batchSize
        m.optimizer = spec.student.optimizer.rawValue
        m.learningRate = spec.student.learningRate
        m.schedule = spec.student.schedule.text
        m.augment = "translate=\(spec.data.augmentation.translate),flip=\(spec.data.augmentation.horizontalFlip)"
        m.teachers = plan.members
        m.temperature = spec.temperature
        m.alpha = spec.alpha
        m.combine = spec.combine.rawValue
        m.replicas = spec.student.replicas
        m.normalize = normalization?.text
        return m
    }

    /// The augmentation seed of an epoch: what work items carry and what the student uses.
    public func augmentationSeed(epoch: Int) -> UInt64 { Trainer.augmentationSeed(seed: spec.seed, epoch: epoch) }
}
