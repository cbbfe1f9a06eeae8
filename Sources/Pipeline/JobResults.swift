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
        /// A language model's held-out loss in bits per byte (its test accuracy is of the next byte).
        public var bitsPerByte: Double?
        /// Language models: the positions it trained on (every epoch's), and how long its training took here.
        public var trainingTokens: Int?
        public var seconds: Double?
        enum CodingKeys: String, CodingKey {
            case model, spec, parameters, seconds
            case testAccuracy = "test_accuracy", lastFiveMean = "last5_mean_test_accuracy", bitsPerByte = "bits_per_byte"
            case trainingTokens = "training_tokens"
        }
    }

    /// The student distilled again with another soft-target encoding (`soft_targets.compare`).
    public struct Comparison {
        public var encoding: JobSpec.SoftTargetEncoding
        /// Its run's output directory (student.safetensors, state).
        public var directory: String
        /// The job file its coordinator ran (its state is keyed by it).
        public var jobYAML: String
        public var seconds: Double
        public init(encoding: JobSpec.SoftTargetEncoding, directory: String, jobYAML: String, seconds: Double) {
            self.encoding = encoding; self.directory = directory; self.jobYAML = jobYAML; self.seconds = seconds
        }
    }

    public var job: String
    public var rows: [Row]
    public var clusterSeconds: Double
    public var gainOverBaseline: Double?
    /// Language models: the student alone's bits per byte minus the distilled one's (positive: distillation helped).
    public var bitsPerByteGain: Double?
    /// The prune and quantize stages' outcome, when the job has them.
    public var compression: CompressionStages.Outcome?
    /// The `export:` stage's ONNX files.
    public var onnx: [ExportStage.Summary]?

    enum CodingKeys: String, CodingKey {
        case job, rows, compression, onnx
        case clusterSeconds = "cluster_seconds", gainOverBaseline = "gain_over_baseline", bitsPerByteGain = "bits_per_byte_gain"
    }

    /// Evaluates the teachers, their ensemble and the distilled student (OUTPUT/student.safetensors, its history in
    /// OUTPUT/state) and trains the student alone when the job asks for that baseline.
    public static func collect(context: JobContext, clusterSeconds: Double, comparisons: [Comparison] = [], control: RunControl) throws -> JobResults {
        let spec = context.spec
        let test = context.split.test
        let languageModel = spec.student.model.isLanguageModel
        // Positions per epoch of the job's training windows.
        let epochTokens = context.split.train.count * context.plan.rowsPerSample
        var rows: [Row] = []
        let loaded = try spec.teachers.map { try TeacherModel.load($0, context: context) }
        if languageModel {
            let scores = try languageModelScores(loaded.map(\.model), test, weights: spec.ensembleWeights)
            for ((teacher, model), score) in zip(zip(spec.teachers, loaded), scores.members) {
                // Tokens are known for teachers this job trained (on its windows).
                let metadata = model.isONNX ? nil : try? Checkpoint.load(URL(fileURLWithPath: teacher.checkpoint)).metadata
                let tokens = metadata?.job == spec.name ? metadata?.epochs.map { $0 * epochTokens } : nil
                rows.append(Row(model: "teacher \(teacher.name)", spec: model.model.summary, parameters: model.model.parameterCount,
                                testAccuracy: score.accuracy, bitsPerByte: score.bitsPerByte, trainingTokens: tokens))
            }
            rows.append(Row(model: "ensemble (\(spec.teachers.count), at T = 1)", spec: "-", parameters: rows.reduce(0) { $0 + $1.parameters },
                            testAccuracy: scores.ensemble.accuracy, bitsPerByte: scores.ensemble.bitsPerByte))
        } else {
            var memberLogits: [Tensor] = []
            for (teacher, model) in zip(spec.teachers, loaded) {
                let logits = try JobResults.logits(model.model, test, normalization: model.normalization)
                memberLogits.append(logits)
                rows.append(Row(model: "teacher \(teacher.name)", spec: model.model.summary, parameters: model.model.parameterCount,
                                testAccuracy: accuracy(logits, test.labels)))
            }
            let ensemble = Ensemble.softTargets(memberLogits, temperature: Float(spec.temperature), rule: spec.combine, weights: spec.ensembleWeights)
            rows.append(Row(model: "ensemble (\(spec.teachers.count), \(spec.combine.rawValue))", spec: "-",
                            parameters: rows.reduce(0) { $0 + $1.parameters }, testAccuracy: accuracy(ensemble, test.labels)))
        }
        var baseline: Row?
        if spec.student.baseline {
            control.status("training the student alone on hard labels (the baseline)")
            let network = try Network(spec.student.model, seed: spec.seed)
            let started = Date()
            let reports = Trainer(model: network, config: context.studentConfig, normalization: context.normalization).fit(
                context.split.train, test: test, shouldStop: control.shouldStop,
                onEpoch: { r in control.status("  alone epoch \(r.epoch + 1): test_acc \(formatted(r.test?.accuracy ?? 0))") })
            // Kept beside the distilled student, to compare them on anything (`eval`, `generate`, `bench infer`).
            try Checkpoint.save(network, to: URL(fileURLWithPath: "\(spec.outputDirectory)/student-alone.safetensors"))
            let accuracies = reports.compactMap { $0.test?.accuracy }
            baseline = Row(model: "student alone", spec: spec.student.model.text, parameters: network.parameterCount,
                           testAccuracy: accuracies.last ?? 0, lastFiveMean: lastFive(accuracies),
                           bitsPerByte: languageModel ? reports.last?.test?.bitsPerByte : nil,
                           trainingTokens: languageModel ? reports.count * epochTokens : nil,
                           seconds: languageModel ? Date().timeIntervalSince(started) : nil)
            rows.append(baseline!)
        }
        let runs = [Comparison(encoding: spec.softTargets, directory: spec.outputDirectory, jobYAML: context.yaml, seconds: clusterSeconds)] + comparisons
        var distilled: Row?
        for run in runs {
            let (student, _) = try Checkpoint.load(URL(fileURLWithPath: "\(run.directory)/student.safetensors"))
            let result = Evaluation.run(student, on: test, normalization: context.normalization)
            let state = try CoordinatorState(directory: "\(run.directory)/state", jobYAML: run.jobYAML, replicas: spec.student.replicas)
            let history = try state.epochs().filter { $0.replica == 0 }.compactMap(\.testAccuracy)
            let row = Row(model: comparisons.isEmpty ? "student distilled" : "student distilled (\(run.encoding))", spec: spec.student.model.text,
                          parameters: student.parameterCount, testAccuracy: result.accuracy, lastFiveMean: lastFive(history),
                          bitsPerByte: languageModel ? result.bitsPerByte : nil,
                          trainingTokens: languageModel ? spec.student.epochs * epochTokens : nil, seconds: languageModel ? run.seconds : nil)
            rows.append(row)
            distilled = distilled ?? row
        }
        let distilledRow = distilled!
        let gain = baseline.flatMap { b in distilledRow.lastFiveMean.flatMap { d in b.lastFiveMean.map { d - $0 } } }
        let bitsGain = baseline?.bitsPerByte.flatMap { b in distilledRow.bitsPerByte.map { b - $0 } }
        return JobResults(job: spec.name, rows: rows, clusterSeconds: clusterSeconds, gainOverBaseline: gain, bitsPerByteGain: bitsGain)
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

    /// Language models on held-out windows: each member's next-byte accuracy and bits per byte, and the same for the
    /// ensemble's (weighted) mean of probabilities at T = 1, the mixture a model of the text is. A few windows at a
    /// time: a corpus's scores, 256 per position, would not fit at once.
    public static func languageModelScores(_ models: [any Classifier], _ data: LabeledImages, weights: [Float]?)
        throws -> (members: [Evaluation.Result], ensemble: Evaluation.Result) {
        let classes = models[0].classes
        var correct = [Int](repeating: 0, count: models.count + 1), nats = [Double](repeating: 0, count: models.count + 1)
        var positions = 0
        for start in stride(from: 0, to: data.count, by: 64) {
            let batch = data.batch(Array(start..<min(start + 64, data.count)), normalization: nil)
            var members: [Tensor] = []
            for (m, model) in models.enumerated() {
                let rows = try model.logits(batch.images).asRows
                correct[m] += Evaluation.countCorrect(rows, batch.labels)
                nats[m] += Double(CrossEntropy.compute(logits: rows, labels: batch.labels).loss) * Double(batch.labels.count)
                members.append(Softmax.probabilities(rows, temperature: 1))
            }
            let mixture = Ensemble.combine(members, temperature: 1, rule: .probabilities, weights: weights)
            correct[models.count] += Evaluation.countCorrect(mixture, batch.labels)
            for (r, label) in batch.labels.enumerated() {
                nats[models.count] -= log(Double(max(mixture.scalars[r * classes + Int(label)], .leastNormalMagnitude)))
            }
            positions += batch.labels.count
        }
        let results = (0...models.count).map { i in
            Evaluation.Result(accuracy: Double(correct[i]) / Double(max(positions, 1)), loss: nats[i] / Double(max(positions, 1)), samples: data.count)
        }
        return (Array(results.dropLast()), results.last!)
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
        let languageModel = rows.contains { $0.bitsPerByte != nil }
        let table = languageModel
            ? MarkdownTable(header: ["model", "spec", "parameters", "training tokens", "wall time", "next-byte accuracy", "bits per byte"],
                            rows: rows.map { [$0.model, $0.spec, "\($0.parameters)", $0.trainingTokens.map { "\($0)" } ?? "", $0.seconds.map { String(format: "%.0f s", $0) } ?? "",
                                              percent($0.testAccuracy), $0.bitsPerByte.map { String(format: "%.3f", $0) } ?? ""] },
                            rightAligned: [2, 3, 4, 5, 6])
            : MarkdownTable(header: ["model", "spec", "parameters", "test accuracy", "mean of last 5 epochs"],
                            rows: rows.map { [$0.model, $0.spec, "\($0.parameters)", percent($0.testAccuracy), percent($0.lastFiveMean)] },
                            rightAligned: [2, 3, 4])
        var text = "job \(job): distillation took \(String(format: "%.0f", clusterSeconds)) s\n\n\(table.text)"
        if let gain = bitsPerByteGain {
            text += String(format: "\n\ndistillation gain over the student alone: %+.3f bits per byte (held out; lower is better)", gain)
        } else if let gain = gainOverBaseline {
            text += String(format: "\n\ndistillation gain over the student alone (last-5 means): %+.2f points", gain * 100)
        }
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
