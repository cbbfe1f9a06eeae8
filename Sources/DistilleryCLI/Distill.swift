import ArgumentParser
import Cluster
import Datasets
import NeuralNet
import Pipeline
import Training

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distil an ensemble of teacher checkpoints into a student, in one process.",
        discussion: """
        Loss: alpha * T^2 * KL(p_teacher_T || p_student_T) + (1 - alpha) * CE(student,
        label), where p_teacher_T combines the teachers (mean of softmax(z_i / T) by
        default; --combine logits tempers the mean logit). Teachers see exactly the
        batches the student sees, augmented and normalised the same way; they must
        record the same normalisation, which the student then uses. The cluster
        (`distillery run`) does this across processes and machines.

        Example:
          distillery distill --teacher cnn-a.safetensors \\
            --teacher cnn-b.safetensors --student mlp:784-128-10 \\
            --temperature 4 --alpha 0.9 --epochs 10 --out student.safetensors
        """
    )

    @Option(name: .customLong("teacher"), help: "A teacher checkpoint; repeat for an ensemble.")
    var teachers: [String] = []

    @Option(help: "Student model spec, e.g. mlp:784-128-10 or mobilenetv2:1x28x28:width=8,expansion=4,blocks=1.")
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
        let distillation: InProcessDistillation, split: DataSplit, epochs: Int, destination: String
        if let job {
            let context = try JobContext.load(path: job, overrides: overrides.settings)
            distillation = try InProcessDistillation(job: context)
            split = context.split
            epochs = context.spec.student.epochs
            destination = out ?? "\(context.spec.outputDirectory)/student-in-process.safetensors"
        } else {
            let spec = try ModelSpec(student!)
            split = try dataOptions.load(context: spec.isLanguageModel ? spec.inputShape[0] : nil)
            distillation = try InProcessDistillation(teachers: teachers, student: try ModelSpec(student!), split: split, config: try training.config(),
                                                     temperature: temperature, alpha: alpha, rule: Ensemble.Rule(rawValue: combine)!,
                                                     provenance: training.provenance(dataName: split.name, epochsDone: 0))
            epochs = training.epochs
            destination = out!
        }
        if !json && job == nil { Terminal.status(distillation.summary) }
        let run = TrainingRun(epochs: epochs, json: json)
        let reports = try distillation.distiller.fit(split.train, test: split.test, shouldStop: { StopSignal.isRequested },
                                                     onStep: run.onStep, onEpoch: run.onEpoch)
        try run.finish(distillation.student, metadata: distillation.metadata, reports: reports, out: destination)
    }
}
