import Cluster
import Compute
import Datasets
import Foundation
import Jobs
import NeuralNet
import Training

/// The table at the end of `distillery run`: every teacher, the ensemble, the student alone and distilled.
public struct JobResults: Encodable {
    public struct Row: Encodable {
        public var model: String
        public var spec: String
        public var parameters: Int
        public var testAccuracy: Double
        /// Mean test accuracy over the last five epochs (students).
        public var lastFiveMean: Double?
        enum CodingKeys: String, CodingKey {
            case model, spec, parameters
            case testAccuracy = "test_accuracy", lastFiveMean = "last5_mean_test_accuracy"
        }
    }

    public var job: String
    public var rows: [Row]
    public var clusterSeconds: Double
    public var gainOverBaseline: Double?
    /// The prune and quantize stages' outcome, when the job has them.
    public var compression: CompressionStages.Outcome?
    /// The `export:` stage's ONNX files.
    public var onnx: [ExportStage.Summary]?

    enum CodingKeys: String, CodingKey {
        case job, rows, compression, onnx
        case clusterSeconds = "cluster_seconds", gainOverBaseline = "gain_over_baseline"
    }

    /// Evaluates the teachers, their ensemble and the distilled student (OUTPUT/student.safetensors, its history in
    /// OUTPUT/state) and trains the student alone when the job asks for that baseline.
    public static func collect(context: JobContext, clusterSeconds: Double, control: RunControl) throws -> JobResults {
        let spec = context.spec
        let test = context.split.test
        var rows: [Row] = []
        var memberLogits: [Tensor] = []
        for teacher in spec.teachers {
            let loaded = try TeacherModel.load(teacher, context: context)
            let logits = try JobResults.logits(loaded.model, test, normalization: loaded.normalization)
            memberLogits.append(logits)
            rows.append(Row(model: "teacher \(teacher.name)", spec: loaded.model.summary, parameters: loaded.model.parameterCount,
                            testAccuracy: accuracy(logits, test.labels)))
        }
        let ensemble = Ensemble.softTargets(memberLogits, temperature: Float(spec.temperature),
                                            rule: spec.combine)
        rows.append(Row(model: "ensemble (\(spec.teachers.count), \(spec.combine.rawValue))", spec: "-",
                        parameters: rows.reduce(0) { $0 + $1.parameters }, testAccuracy: accuracy(ensemble, test.labels)))
        var baseline: Row?
        if spec.student.baseline {
            control.status("training the student alone on hard labels (the baseline)")
            let network = try Network(spec.student.model, seed: spec.seed)
            let reports = Trainer(model: network, config: context.studentConfig, normalization: context.normalization).fit(
                context.split.train, test: test, shouldStop: control.shouldStop,
                onEpoch: { r in control.status("  alone epoch \(r.epoch + 1): test_acc \(formatted(r.test?.accuracy ?? 0))") })
            let accuracies = reports.compactMap { $0.test?.accuracy }
            baseline = Row(model: "student alone", spec: spec.student.model.text, parameters: network.parameterCount,
                           testAccuracy: accuracies.last ?? 0, lastFiveMean: lastFive(accuracies))
            rows.append(baseline!)
        }
        let path = "\(spec.outputDirectory)/student.safetensors"
        let (student, _) = try Checkpoint.load(URL(fileURLWithPath: path))
        let result = Evaluation.run(student, on: test, normalization: context.normalization)
        let state = try CoordinatorState(directory: "\(spec.outputDirectory)/state", jobYAML: context.yaml, replicas: spec.student.replicas)
        let history = try state.epochs().filter { $0.replica == 0 }.compactMap(\.testAccuracy)
        let distilled = Row(model: "student distilled", spec: spec.student.model.text, parameters: student.parameterCount,
                            testAccuracy: result.accuracy, lastFiveMean: lastFive(history))
        rows.append(distilled)
        let gain = baseline.flatMap { b in distilled.lastFiveMean.flatMap { d in b.lastFiveMean.map { d - $0 } } }
        return JobResults(job: spec.name, rows: rows, clusterSeconds: clusterSeconds, gainOverBaseline: gain)
    }

    /// The model's logits on a whole split, a thousand samples at a time.
    public static func logits(_ model: any Classifier, _ data: LabeledImages, normalization: Normalization?) throws -> Tensor {
        var out = Tensor(zeros: [data.count, model.classes])
        for start in stride(from: 0, to: data.count, by: 1000) {
            let rows = start..<min(start + 1000, data.count)
            let part = try model.logits(data.batch(Array(rows), normalization: normalization).images)
            out.scalars.replaceSubrange((rows.lowerBound * model.classes)..<(rows.upperBound * model.classes), with: part.scalars)
        }
        return out
    }

    public static func accuracy(_ scores: Tensor, _ labels: [Int32]) -> Double {
        Double(Evaluation.countCorrect(scores, labels)) / Double(max(labels.count, 1))
    }

    public static func lastFive(_ values: [Double]) -> Double? {
        let tail = values.suffix(5)
        return tail.isEmpty ? nil : tail.reduce(0, +) / Double(tail.count)
    }

    public var table: String {
        func percent(_ v: Double?) -> String { v.map { String(format: "%.2f %%", $0 * 100) } ?? "" }
        let table = MarkdownTable(
            header: ["model", "spec", "parameters", "test accuracy", "mean of last 5 epochs"],
            rows: rows.map { [$0.model, $0.spec, "\($0.parameters)", percent($0.testAccuracy), percent($0.lastFiveMean)] },
            rightAligned: [2, 3, 4])
        var text = "job \(job): distillation took \(String(format: "%.0f", clusterSeconds)) s\n\n\(table.text)"
        if let gain = gainOverBaseline { text += String(format: "\n\ndistillation gain over the student alone (last-5 means): %+.2f points", gain * 100) }
        if let compression { text += "\n\n" + compression.table }
        return text
    }

    /// OUTPUT/results.md and results.json, each written atomically.
    public func write(to directory: String) throws {
        try Data((table + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/results.md"), options: .atomic)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: "\(directory)/results.json"), options: .atomic)
    }
}
