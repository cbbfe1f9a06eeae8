import Cluster
import Datasets
import Foundation
import NeuralNet
import Training

/// `distillery distill`: a student and its teachers in one process, checked against each other and the data
/// before any training; the caller runs `distiller.fit` and saves `student` with `metadata`.
public struct InProcessDistillation {
    public let distiller: Distiller
    public let student: Network
    /// The provenance the checkpoint records (its epoch count set when it is saved).
    public let metadata: CheckpointMetadata
    public let summary: String

    /// Teacher checkpoints (ours or ONNX) into a new `student`: they must read the data, share one normalisation
    /// (ONNX teachers get their inputs converted) and score the student's classes.
    public init(teachers paths: [String], student spec: ModelSpec, split: DataSplit, config: TrainingConfig,
                temperature: Float, alpha: Float, rule: Ensemble.Rule, provenance: CheckpointMetadata) throws {
        let loaded = try paths.map { try TeacherModel.load($0, fittingTo: split.train) }
        let normalizations = Set(loaded.filter { !$0.isONNX }.map { $0.normalization?.text ?? "none" })
        guard normalizations.count <= 1 else {
            throw PipelineError.unsuitableInput("the teachers were trained on differently normalised inputs (\(normalizations.sorted().joined(separator: " vs "))); distil teachers that share one")
        }
        let normalization = try Normalization.setting(normalizations.first ?? "none", fittingTo: split.train)
        for (path, teacher) in zip(paths, loaded) where teacher.model.inputSize != split.train.sampleSize {
            throw PipelineError.unsuitableInput("teacher \(path) reads \(teacher.model.inputSize) values per sample; \(split.name) has \(split.train.sampleSize)")
        }
        let network = try Network(spec, seed: config.seed)
        try checkCompatible(network, split)
        guard loaded.allSatisfy({ $0.model.classes == network.classes }) else {
            throw PipelineError.unsuitableInput("teachers and student must have the same number of classes")
        }
        student = network
        distiller = Distiller(student: network, teachers: loaded.map { $0.forStudent(normalization) }, config: config,
                              normalization: normalization, temperature: temperature, alpha: alpha, rule: rule)
        var metadata = provenance
        metadata.normalize = normalization?.text
        metadata.teachers = paths
        metadata.temperature = Double("\(temperature)")
        metadata.alpha = Double("\(alpha)")
        metadata.combine = rule.rawValue
        self.metadata = metadata
        summary = "distilling \(paths.count) teacher(s) into \(network.spec) (\(network.parameterCount) parameters) at T=\(temperature), alpha=\(alpha)"
    }

    /// A job's distillation in this process: the same data order, augmentation, normalisation, seeds and teacher
    /// passes as the cluster's students, and the same provenance.
    public init(job context: JobContext) throws {
        let spec = context.spec
        let teacherModels = try spec.teachers.map { try TeacherModel.load($0, context: context).forStudent(context.normalization) }
        student = try Network(spec.student.model, seed: spec.seed)
        distiller = Distiller(student: student, teachers: teacherModels, config: context.studentConfig, normalization: context.normalization,
                              temperature: Float(spec.temperature), alpha: Float(spec.alpha),
                              rule: spec.combine, weights: spec.ensembleWeights, passCuts: [context.plan.shardSize])
        metadata = context.distillationProvenance(epochs: 0)
        summary = "distilling job \(spec.name) in this process: \(spec.teachers.count) teacher(s) into \(student.spec)"
    }
}
