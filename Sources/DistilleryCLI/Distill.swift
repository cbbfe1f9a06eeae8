import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Training
import Cluster

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distil an ensemble of teacher checkpoints into a student, in one process.",
        discussion: """
        Loss: alpha * T^2 * KL(p_teacher_T || p_student_T) + (1 - alpha) * CE(student, label), where p_teacher_T
        combines the teachers (mean of softmax(z_i / T) by default; --combine logits tempers the mean logit).
        Teachers see exactly the batches the student sees, augmented and normalised the same way; they must
        record the same normalisation, which the student then uses. The cluster (`distillery run`) does this across
        processes and machines.

        Example:
          distillery distill --teacher cnn-a.safetensors --teacher cnn-b.safetensors --student mlp:784-128-10 \\
            --temperature 4 --alpha 0.9 --epochs 10 --out student.safetensors
        """
    )

    @Option(name: .customLong("teacher"), help: "A teacher checkpoint; repeat for an ensemble.")
    var teachers: [String] = []

    @Option(help: "Student model spec, e.g. mlp:784-128-10.")
    var student: String?

    @Option(help: "Take teachers, student, data, augmentation and training settings from a job file instead: the cluster's work in one process (for comparisons).")
    var job: String?

    @OptionGroup var overrides: JobOverrideOptions

    @Option(help: "Temperature T of the soft targets.")
    var temperature: Float = 4

    @Option(help: "Weight of the soft-target term (1 - alpha weighs the hard labels).")
    var alpha: Float = 0.9

    @Option(help: "Ensemble rule: probabilities (mean of tempered softmaxes) or logits (tempered mean logit).")
    var combine: String = "probabilities"

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var training: TrainingOptions

    @Option(help: "Where to write the student checkpoint (.safetensors; with --job default OUTPUT/student-in-process.safetensors).")
    var out: String?

    @Flag(help: "Print the final report as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if job != nil { return }
        guard !teachers.isEmpty else { throw ValidationError("give at least one --teacher checkpoint (or --job)") }
        guard let student else { throw ValidationError("give --student SPEC (or --job)") }
        guard out != nil else { throw ValidationError("give --out FILE") }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive, got \(temperature)") }
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in 0...1, got \(alpha)") }
        guard Ensemble.Rule(rawValue: combine) != nil else { throw ValidationError("--combine must be probabilities or logits, got '\(combine)'") }
        _ = try ModelSpec(student)
    }

    func run() throws {
        compute.apply()
        StopSignal.install()
        if let job { return try runJob(job) }
        let student = student!, out = out!
        let split = try dataOptions.load()
        let loaded = try teachers.map { try TeacherModel.load($0, fittingTo: split.train) }
        // The student reads what our own teachers read; ONNX teachers get their inputs converted.
        let normalizations = Set(loaded.filter { !$0.isONNX }.map { $0.normalization?.text ?? "none" })
        guard normalizations.count <= 1 else {
            throw ValidationError("the teachers were trained on differently normalised inputs (\(normalizations.sorted().joined(separator: " vs "))); distil teachers that share one")
        }
        let normalization = try Normalization.setting(normalizations.first ?? "none", fittingTo: split.train)
        for (path, teacher) in zip(teachers, loaded) where teacher.model.inputSize != split.train.sampleSize {
            throw ValidationError("teacher \(path) reads \(teacher.model.inputSize) values per sample; \(split.name) has \(split.train.sampleSize)")
        }
        let network = try Sequential(try ModelSpec(student), seed: training.seed)
        try checkCompatible(network, split)
        guard loaded.allSatisfy({ $0.model.classes == network.classes }) else {
            throw ValidationError("teachers and student must have the same number of classes")
        }
        if !json {
            Terminal.status("distilling \(teachers.count) teacher(s) into \(network.spec) (\(network.parameterCount) parameters) at T=\(temperature), alpha=\(alpha)")
        }
        let run = TrainingRun(epochs: training.epochs, json: json)
        let distiller = Distiller(student: network, teachers: loaded.map { $0.forStudent(normalization) }, config: try training.config(),
                                  normalization: normalization, temperature: temperature, alpha: alpha,
                                  rule: Ensemble.Rule(rawValue: combine)!)
        let reports = try distiller.fit(split.train, test: split.test, shouldStop: { StopSignal.isRequested },
                                    onStep: run.onStep, onEpoch: run.onEpoch)
        var metadata = training.provenance(dataName: split.name, epochsDone: reports.count)
        metadata.normalize = normalization?.text
        metadata.teachers = teachers
        metadata.temperature = Double("\(temperature)")
        metadata.alpha = Double("\(alpha)")
        metadata.combine = combine
        try run.finish(network, metadata: metadata, reports: reports, out: out)
    }

    /// The job's distillation in this process: same data order, augmentation, normalisation and seeds as
    /// the cluster's students.
    private func runJob(_ path: String) throws {
        let context = try JobContext.load(path: path, overrides: overrides.settings)
        let spec = context.spec
        let teacherModels = try spec.teachers.map { try TeacherModel.load($0, context: context).forStudent(context.normalization) }
        let network = try Sequential(spec.student.model, seed: spec.seed)
        let distiller = Distiller(student: network, teachers: teacherModels, config: context.studentConfig, normalization: context.normalization,
                                  temperature: Float(spec.temperature), alpha: Float(spec.alpha),
                                  rule: spec.combine, passCuts: [context.plan.shardSize])
        let run = TrainingRun(epochs: spec.student.epochs, json: json)
        let reports = try distiller.fit(context.split.train, test: context.split.test, shouldStop: { StopSignal.isRequested },
                                    onStep: run.onStep, onEpoch: run.onEpoch)
        // What the cluster's student records too: one provenance for both paths.
        try run.finish(network, metadata: context.distillationProvenance(epochs: reports.count), reports: reports, out: out ?? "\(spec.outputDirectory)/student-in-process.safetensors")
    }
}
