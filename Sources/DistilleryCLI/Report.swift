import ArgumentParser
import Cluster
import Compression
import Foundation
import Jobs
import NeuralNet

/// Test accuracy against sparsity for every pruning method on a job's distilled student, the figure of the
/// lottery-ticket and SynFlow papers, plus the lottery ticket's control: its masks on freshly drawn weights.
struct PruningSweep {
    let context: JobContext
    let stage: JobSpec.ReportStage

    struct Point: Encodable {
        var method: String
        var targetSparsity: Double, sparsity: Double
        /// Before fine-tuning (data-free methods are judged here); nil for lottery tickets.
        var prunedAccuracy: Double?
        var accuracy: Double

        enum CodingKeys: String, CodingKey {
            case method, sparsity, accuracy
            case targetSparsity = "target_sparsity", prunedAccuracy = "pruned_accuracy"
        }
    }

    static let lotteryControl = "lottery, random re-init"

    func run(student path: String, shouldStop: () -> Bool) throws -> (dense: Double, points: [Point]) {
        let inputs = try CompressionInputs(model: path, context: context, split: context.split)
        let network = inputs.contents.model
        let seed = inputs.contents.metadata.seed ?? context.spec.seed
        let tuner = try inputs.jobTuner(learningRate: 0.001, seed: seed) { _ in }
        var points: [Point] = []
        for method in stage.methods {
            for sparsity in stage.sparsities {
                if shouldStop() { throw ExitCode(130) }
                let run = PruningRun(method: method, sparsity: sparsity, rounds: method == .lottery ? 3 : nil,
                                     finetuneEpochs: max(1, stage.finetuneEpochs), seed: seed)
                let result = try run.run(network, tuner: tuner, sample: { inputs.sample(512) })
                let point = Point(method: method.rawValue, targetSparsity: sparsity, sparsity: result.sparsity,
                                  prunedAccuracy: result.beforeFineTuning.map { inputs.accuracy($0) }, accuracy: inputs.accuracy(result.model))
                Terminal.status("  \(method.rawValue) at \(formatted(sparsity * 100, 1)) %: "
                    + (point.prunedAccuracy.map { "pruned \(formatted($0 * 100, 2)) %, " } ?? "") + "fine-tuned \(formatted(point.accuracy * 100, 2)) %")
                points.append(point)
                if method == .lottery {
                    let ticket = LotteryTicket(sparsity: sparsity, rounds: 3, rewind: .initial, epochsPerRound: max(1, stage.finetuneEpochs))
                    let control = try ticket.randomReinitialisation(masks: PruningMasks.nonzero(result.model), spec: network.spec,
                                                                    seed: seed &+ 0x5EED, tuner: tuner)
                    points.append(Point(method: PruningSweep.lotteryControl, targetSparsity: sparsity, sparsity: result.sparsity,
                                        prunedAccuracy: nil, accuracy: inputs.accuracy(control)))
                    Terminal.status("  \(PruningSweep.lotteryControl) at \(formatted(sparsity * 100, 1)) %: \(formatted(points.last!.accuracy * 100, 2)) %")
                }
            }
        }
        return (inputs.accuracy(network), points)
    }

    /// The methods in the order the sweep ran them.
    private static func methods(_ points: [Point]) -> [String] {
        points.reduce(into: [String]()) { if !$0.contains($1.method) { $0.append($1.method) } }
    }

    static func markdown(dense: Double, points: [Point]) -> String {
        let methods = methods(points)
        let sparsities = Array(Set(points.map(\.targetSparsity))).sorted()
        let rows = methods.map { method in
            [method] + sparsities.map { s in
                guard let p = points.first(where: { $0.method == method && $0.targetSparsity == s }) else { return "" }
                return formatted(p.accuracy * 100, 2) + (p.prunedAccuracy.map { " (\(formatted($0 * 100, 1)))" } ?? "")
            }
        }
        let table = MarkdownTable(header: ["method"] + sparsities.map { "sparsity \(formatted($0 * 100, 0)) %" }, rows: rows,
                                  rightAligned: Set(1...sparsities.count))
        return "test accuracy (%) after fine-tuning, before it in parentheses; dense student \(formatted(dense * 100, 2)) %\n\n" + table.text
    }

    static func plot(dense: Double, points: [Point]) -> String {
        let methods = methods(points)
        return SVGPlot(title: "Test accuracy against sparsity", xLabel: "sparsity (fraction of weights removed)", yLabel: "test accuracy (%)",
                       series: methods.map { m in .init(name: m, points: points.filter { $0.method == m }.map { ($0.sparsity, $0.accuracy * 100) }) },
                       reference: ("dense student", dense * 100)).text
    }
}

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
        let written = try ReportWriter(context: context).write(sweep: PruningSweep(context: context, stage: stage), student: student,
                                                               shouldStop: { StopSignal.isRequested })
        if json { try Terminal.printJSON(written) } else { Terminal.line(written.markdown) }
    }
}

/// Writes OUTPUT/report.md, report.json and accuracy-vs-sparsity.svg.
struct ReportWriter {
    let context: JobContext

    struct Written: Encodable {
        var denseAccuracy: Double
        var points: [PruningSweep.Point]
        var compression: CompressionStages.Outcome?
        var markdown: String
        var plot: String

        enum CodingKeys: String, CodingKey {
            case points, compression, plot
            case denseAccuracy = "dense_accuracy"
        }
    }

    func write(sweep: PruningSweep, student: String, shouldStop: () -> Bool) throws -> Written {
        let output = context.spec.outputDirectory
        Terminal.status("pruning sweep: \(sweep.stage.methods.map(\.rawValue).joined(separator: ", ")) at \(sweep.stage.sparsities.map { formatted($0, 2) }.joined(separator: ", "))")
        let (dense, points) = try sweep.run(student: student, shouldStop: shouldStop)
        let compression = try CompressionStages(context: context).measure()
        var markdown = "# Compression report: job \(context.spec.name)\n\n## Accuracy against sparsity\n\n"
            + PruningSweep.markdown(dense: dense, points: points) + "\n\n![accuracy against sparsity](accuracy-vs-sparsity.svg)\n"
        if let compression { markdown += "\n## The compressed student\n\n" + compression.table + "\n" }
        let plotPath = "\(output)/accuracy-vs-sparsity.svg"
        try Data(PruningSweep.plot(dense: dense, points: points).utf8).write(to: URL(fileURLWithPath: plotPath), options: .atomic)
        try Data(markdown.utf8).write(to: URL(fileURLWithPath: "\(output)/report.md"), options: .atomic)
        let written = Written(denseAccuracy: dense, points: points, compression: compression, markdown: markdown, plot: plotPath)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(written).write(to: URL(fileURLWithPath: "\(output)/report.json"), options: .atomic)
        return written
    }
}
