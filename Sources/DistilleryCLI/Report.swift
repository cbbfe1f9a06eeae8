import ArgumentParser
import Cluster
import CompressionSettings
import Pipeline

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare every pruning method on a job's distilled student: table and accuracy-against-sparsity plot.",
        discussion: """
        Prunes the job's student (OUTPUT/student.safetensors, or --model) by each
        method of the job's `report:` section (default: all, at sparsities 0.5,
        0.8 and 0.9, one fine-tuning epoch with the job's teachers), adds the
        lottery ticket's control (its masks on freshly drawn weights), and writes
        OUTPUT/report.md, report.json and accuracy-vs-sparsity.svg. The report
        also tabulates the dense, pruned and int8 students that `distillery run`
        left in OUTPUT: accuracy, bytes on disk, latency at batch 1 and 256.

        Example:  distillery report --job cluster/jobs/fashion-quick.yaml
        """
    )

    @Option(help: "The job file (YAML).")
    var job: String

    @Option(help: "The student to prune (default: OUTPUT/student.safetensors).")
    var model: String?

    @Option(help: "Comma-separated methods, overriding the job's (e.g. global-magnitude,synflow,random).")
    var methods: String?

    @Option(help: "Comma-separated sparsities, overriding the job's (e.g. 0.5,0.9).")
    var sparsities: String?

    @Option(help: "Fine-tuning epochs per point, overriding the job's.")
    var finetuneEpochs: Int?

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        compute.apply()
        StopSignal.install()
        let context = try JobContext.load(path: job)
        var stage = context.spec.report ?? .standard
        if let methods {
            stage.methods = try methods.split(separator: ",").map { text in
                guard let m = PruningMethod(rawValue: String(text)) else {
                    throw ValidationError("--methods: unknown method '\(text)'; use \(PruningMethod.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return m
            }
        }
        if let sparsities {
            stage.sparsities = try sparsities.split(separator: ",").map { text in
                guard let v = Double(text), (0..<1).contains(v) else { throw ValidationError("--sparsities: '\(text)' is not in 0 ..< 1") }
                return v
            }
        }
        if let finetuneEpochs { stage.finetuneEpochs = finetuneEpochs }
        let output = context.spec.outputDirectory
        let student = model ?? "\(output)/student.safetensors"
        let control = Terminal.control()
        let written = try ReportWriter(context: context, control: control).write(sweep: PruningSweep(context: context, stage: stage, control: control),
                                                                                 student: student)
        if json { try Terminal.printJSON(written) } else { Terminal.line(written.markdown) }
    }
}
