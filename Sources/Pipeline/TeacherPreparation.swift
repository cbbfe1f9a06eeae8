import Cluster
import Foundation
import Jobs
import NeuralNet
import Training

/// Trains a job's teachers whose checkpoints are missing, on the augmentation the distillation uses
/// (teachers that never saw shifted or flipped images teach badly on them).
public struct TeacherPreparation {
    public let context: JobContext
    public let control: RunControl

    public init(context: JobContext, control: RunControl) {
        self.context = context
        self.control = control
    }

    /// Throws `PipelineError.stopped` when a stop interrupts a teacher (its checkpoint is then not written).
    public func trainMissing() throws {
        let spec = context.spec
        for (index, teacher) in spec.teachers.enumerated() where !FileManager.default.fileExists(atPath: teacher.checkpoint) {
            guard let model = teacher.trainModel else {
                throw JobError(file: "job \(spec.name)", line: nil, "teacher '\(teacher.name)': no checkpoint at \(teacher.checkpoint) and no 'train:' to make one")
            }
            let network = try Network(model, seed: spec.seed &+ UInt64(index + 1))
            let augmentation = teacher.trainAugmentation ?? spec.data.augmentation
            let config = TrainingConfig(epochs: teacher.trainEpochs, batchSize: teacher.trainBatchSize, optimizer: .adam,
                                        learningRate: Float(teacher.trainLearningRate),
                                        schedule: .cosine(minimum: 0), seed: spec.seed &+ UInt64(index + 1), augmentation: augmentation)
            control.status("training teacher '\(teacher.name)' (\(model), \(teacher.trainEpochs) epochs) -> \(teacher.checkpoint)")
            let task = "teacher \(teacher.name)"
            let trainer = Trainer(model: network, config: config, normalization: context.normalization)
            let reports = trainer.fit(context.split.train, test: context.split.test, shouldStop: control.shouldStop, onStep: { p in
                control.emit(.progress(task: task, fraction: Double(p.samplesDone) / Double(p.samplesTotal),
                                       detail: "epoch \(p.epoch + 1)/\(p.epochs) \(Int(p.samplesPerSecond)) samples/s"))
            }, onEpoch: { r in
                control.emit(.progressEnded(task: task))
                control.status("  \(teacher.name) epoch \(r.epoch + 1): test_acc \(formatted(r.test?.accuracy ?? 0))")
            })
            guard reports.count == teacher.trainEpochs else { throw PipelineError.stopped }
            var metadata = CheckpointMetadata()
            metadata.data = spec.data.source.description
            metadata.epochs = reports.count
            metadata.job = spec.name
            metadata.augment = "translate=\(augmentation.translate),flip=\(augmentation.horizontalFlip)"
            metadata.normalize = context.normalization?.text
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: teacher.checkpoint).deletingLastPathComponent().path,
                                                    withIntermediateDirectories: true)
            try Checkpoint.save(network, metadata: metadata, to: URL(fileURLWithPath: teacher.checkpoint))
        }
    }
}
