import CompressionSettings
import Datasets
import Foundation
import NeuralNet
import Yams

/// A distillation job as its YAML file describes it (cluster/jobs/ has examples). Paths are resolved
/// against the job file's directory.
public struct JobSpec: Sendable, Equatable {
    public struct DataSection: Sendable, Equatable {
        public var source: DataSource
        public var shardSize: Int
        public var augmentation: Augmentation
        public var normalize: NormalizationSetting
        /// Use only the first N training / test samples (quick runs).
        public var limit: Int? = nil
        public var testLimit: Int? = nil
        /// Where the job file names the data set, for errors found when it loads.
        public var line: Int? = nil
    }

    public struct Teacher: Sendable, Equatable {
        public var name: String
        public var checkpoint: String
        /// Trained first when the checkpoint is missing.
        public var trainModel: ModelSpec?
        public var trainEpochs: Int
        /// The augmentation it is trained on (nil: the job's, as the distillation sees the data).
        public var trainAugmentation: Augmentation? = nil
        /// Workers that may serve this member (empty: any).
        public var workers: [String]
        /// The member's input normalisation; nil: what its checkpoint records, none for an ONNX model (pixels in [0, 1]).
        public var normalize: NormalizationSetting? = nil
        /// Its weight in the ensemble's mean (divided by the weights' sum).
        public var weight: Double = 1
        /// Training it (when `trainModel` is set): Adam at this learning rate and batch size, on a cosine schedule.
        public var trainLearningRate: Double = 0.002
        public var trainBatchSize: Int = 128
    }

    /// How members combine: the ensemble's own rule (mean of tempered probabilities, or of logits).
    public typealias Combine = Ensemble.Rule

    public enum SoftTargetEncoding: Sendable, Equatable, CustomStringConvertible {
        case float32, float16
        /// The k largest probabilities per row, with the rest's mass as one tail bucket.
        case topK(Int)

        public var isTopK: Bool { topK != nil }
        /// k of `topk:K`.
        public var topK: Int? { if case let .topK(k) = self { return k } else { return nil } }

        public var description: String {
            switch self {
            case .float32: return "fp32"
            case .float16: return "fp16"
            case let .topK(k): return "topk:\(k)"
            }
        }
    }

    public struct Student: Sendable, Equatable {
        public var model: ModelSpec
        public var optimizer: OptimizerKind
        public var learningRate: Double
        public var schedule: LearningRateSchedule
        public var epochs: Int
        public var batchSize: Int
        public var replicas: Int
        /// Also train the student on hard labels alone, for the results table.
        public var baseline: Bool
    }

    public struct Cluster: Sendable, Equatable {
        public var coordinator: String
        /// Plain TCP without CURVE: only when a job says so (e.g. on loopback).
        public var plaintext: Bool
        public var keys: String?
        public var checkpointEveryEpochs: Int
        /// A worker silent for this long loses its work to others.
        public var leaseMilliseconds: Int = 5000
        public var heartbeatMilliseconds: Int = 500
        /// Work items a teacher may hold at once.
        public var credits: Int = 2
        /// Teacher processes `distillery run` starts on this machine.
        public var localTeachers: Int = 1
        /// `distillery run`: every daemon serves metrics, the coordinator at HOST:PORT, the others on the ports after.
        public var metrics: String? = nil
    }

    /// After distillation: prune the student, fine-tuning with the job's teachers.
    public struct PruneStage: Sendable, Equatable {
        public var method: PruningMethod
        public var sparsity: Double
        public var finetuneEpochs: Int
        public var rounds: Int?
        public var rewind: RewindPoint
        public var learningRate: Double
        /// Magnitude methods: sparsity raised over the fine-tuning.
        public var gradual: Bool = false
        /// The soft-target weight while fine-tuning (nil: the distillation's alpha).
        public var alpha: Double? = nil
    }

    /// After pruning: quantize to int8.
    public struct QuantizeStage: Sendable, Equatable {
        public var mode: QuantizationMode
        public var perChannel: Bool
        public var calibration: CalibrationRule
        public var sample: Int
        public var epochs: Int
        public var learningRate: Double
    }

    /// The accuracy-against-sparsity sweep of `distillery report`.
    public struct ReportStage: Sendable, Equatable {
        public var methods: [PruningMethod]
        public var sparsities: [Double]
        public var finetuneEpochs: Int

        /// Every method at 50, 80 and 90 % sparsity, one fine-tuning epoch each.
        public static let standard = ReportStage(methods: PruningMethod.allCases, sparsities: [0.5, 0.8, 0.9], finetuneEpochs: 1)
    }

    /// At the end: every student file (distilled, pruned, int8) also as ONNX beside it.
    public struct ExportStage: Sendable, Equatable {
        public var opset: Int
    }

    public var name: String
    public var seed: UInt64
    public var data: DataSection
    public var teachers: [Teacher]
    public var temperature: Double
    public var alpha: Double
    public var combine: Combine
    public var student: Student
    public var softTargets: SoftTargetEncoding
    /// Encodings the student is also distilled with, each in a run of its own, for the results table.
    public var softTargetComparisons: [SoftTargetEncoding] = []
    public var cacheSoftTargets: Bool
    public var cluster: Cluster
    public var outputDirectory: String
    public var prune: PruneStage? = nil
    public var quantize: QuantizeStage? = nil
    public var report: ReportStage? = nil
    public var export: ExportStage? = nil

    /// The members' weights in the ensemble's mean; nil when they are all equal (the plain mean).
    public var ensembleWeights: [Float]? {
        teachers.allSatisfy({ $0.weight == teachers[0].weight }) ? nil : teachers.map { Float($0.weight) }
    }

    /// Reads and checks a job file; every problem names the file and line.
    public static func load(_ path: String) throws -> JobSpec {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw JobError(file: path, line: nil, "cannot read the job file")
        }
        return try parse(text, file: path, baseDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    public static func parse(_ text: String, file: String, baseDirectory: String = ".") throws -> JobSpec {
        let root: Node
        try YAMLBounds.checkKeys(text, file: file)
        do {
            guard let node = try Yams.compose(yaml: text) else { throw JobError(file: file, line: nil, "the job file is empty") }
            try YAMLBounds.checkExpansion(node, file: file)
            root = node
        } catch let error as JobError {
            throw error
        } catch let error as YamlError {
            throw JobError(file: file, line: line(of: error), "not valid YAML: \(problem(of: error))")
        }
        let top = try YAMLSection(root, path: "job", file: file)
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : URL(fileURLWithPath: baseDirectory).appendingPathComponent(p).standardized.path }

        let name = try top.string("name")
        // The name becomes paths (runs/NAME), log lines and the wire's job id.
        let safe = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
        guard safe, (1...64).contains(name.count), name.first != ".", name.first != "-" else {
            throw top.error("name", "\(name.debugDescription) is not a job name: use 1-64 letters, digits and . _ - (not starting with . or -)")
        }
        let seed = UInt64(try top.int("seed", default: 0))

        guard let dataSection = try top.section("data") else { throw JobError(file: file, line: top.line, "job: missing required section 'data'") }
        let data = try parseData(dataSection, resolve: resolve)

        let teacherSections = try top.sections("teachers")
        guard !teacherSections.isEmpty else { throw JobError(file: file, line: top.line, "job: 'teachers' must list at least one ensemble member") }
        var teachers: [Teacher] = []
        for t in teacherSections {
            let member = try parseTeacher(t, resolve: resolve)
            if teachers.contains(where: { $0.name == member.name }) { throw t.error("name", "duplicate teacher name '\(member.name)'") }
            teachers.append(member)
        }

        guard let distill = try top.section("distillation") else { throw JobError(file: file, line: top.line, "job: missing required section 'distillation'") }
        let temperature = try distill.double("temperature", default: 4, range: 0.05...100)
        let alpha = try distill.double("alpha", default: 0.9, range: 0...1)
        let combineText = try distill.string("combine", default: "probabilities")
        guard let combine = Combine(rawValue: combineText) else {
            throw distill.error("combine", "unknown rule '\(combineText)': use probabilities (mean of softmax(z/T)) or logits (mean of logits)")
        }
        try distill.finish()

        guard let studentSection = try top.section("student") else { throw JobError(file: file, line: top.line, "job: missing required section 'student'") }
        let student = try parseStudent(studentSection)

        var encoding = SoftTargetEncoding.float32
        var comparisons: [SoftTargetEncoding] = []
        var cache = true
        if let soft = try top.section("soft_targets") {
            func parseEncoding(_ text: String, key: String) throws -> SoftTargetEncoding {
                let parsed: SoftTargetEncoding
                switch text {
                case "fp32": parsed = .float32
                case "fp16": parsed = .float16
                default:
                    guard text.hasPrefix("topk:"), let k = Int(text.dropFirst(5)), k >= 1, k <= student.model.classes else {
                        throw soft.error(key, "unknown encoding '\(text)': use fp32, fp16 or topk:K with 1 <= K <= \(student.model.classes)")
                    }
                    parsed = .topK(k)
                }
                if parsed.isTopK && combine == .logits {
                    throw soft.error(key, "top-k sends probabilities, but 'distillation.combine: logits' needs whole logits: use fp32 or fp16")
                }
                return parsed
            }
            encoding = try parseEncoding(try soft.string("encoding", default: "fp32"), key: "encoding")
            comparisons = try soft.strings("compare").map { try parseEncoding($0, key: "compare") }
            if comparisons.contains(encoding) || Set(comparisons.map(\.description)).count < comparisons.count {
                throw soft.error("compare", "lists an encoding twice (or the job's own, \(encoding)): each is distilled once")
            }
            cache = try soft.bool("cache", default: true)
            try soft.finish()
        }

        var cluster = Cluster(coordinator: "tcp://127.0.0.1:5555", plaintext: false, keys: nil, checkpointEveryEpochs: 1)
        if let c = try top.section("cluster") {
            cluster.coordinator = try c.string("coordinator", default: cluster.coordinator)
            guard cluster.coordinator.hasPrefix("tcp://") else { throw c.error("coordinator", "expected tcp://HOST:PORT") }
            cluster.plaintext = try c.bool("plaintext", default: false)
            cluster.keys = try c.optionalString("keys").map(resolve)
            cluster.checkpointEveryEpochs = try c.int("checkpoint_every", default: 1, range: 1...100_000)
            cluster.leaseMilliseconds = try c.int("lease_ms", default: 5000, range: 200...3_600_000)
            cluster.heartbeatMilliseconds = try c.int("heartbeat_ms", default: 500, range: 50...600_000)
            guard cluster.heartbeatMilliseconds * 2 <= cluster.leaseMilliseconds else {
                throw c.error("heartbeat_ms", "heartbeats must come at least twice per lease (lease_ms \(cluster.leaseMilliseconds))")
            }
            cluster.credits = try c.int("credits", default: 2, range: 1...64)
            cluster.localTeachers = try c.int("local_teachers", default: 1, range: 1...64)
            if let metrics = try c.optionalString("metrics") {
                guard let colon = metrics.lastIndex(of: ":"), let port = Int(metrics[metrics.index(after: colon)...]), (0...65535).contains(port),
                      colon != metrics.startIndex else {
                    throw c.error("metrics", "expected HOST:PORT, e.g. 127.0.0.1:9464 (port 0: free ports), got '\(metrics)'")
                }
                cluster.metrics = metrics
            }
            try c.finish()
        }
        if !cluster.plaintext && cluster.keys == nil {
            throw JobError(file: file, line: top.line, "job: cluster traffic is encrypted unless 'cluster.plaintext: true'; give 'cluster.keys: DIR' (see distillery keygen)")
        }
        var output = resolve("runs/\(name)")
        if let o = try top.section("output") {
            output = resolve(try o.string("dir"))
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw o.error("dir", "\(output) is a file, not a directory")
            }
            try o.finish()
        }
        var job = JobSpec(name: name, seed: seed, data: data, teachers: teachers, temperature: temperature, alpha: alpha,
                          combine: combine, student: student, softTargets: encoding, cacheSoftTargets: cache,
                          cluster: cluster, outputDirectory: output)
        job.softTargetComparisons = comparisons
        job.prune = try top.section("prune").map(parsePrune)
        job.quantize = try top.section("quantize").map(parseQuantize)
        job.report = try top.section("report").map(parseReport)
        job.export = try top.section("export").map { s in
            let stage = ExportStage(opset: try s.int("opset", default: 17, range: 13...21))
            try s.finish()
            return stage
        }
        try top.finish()
        return job
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        case let .duplicatedKeysInMapping(_, context): return context.mark.line
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): return problem
        case let .duplicatedKeysInMapping(duplicates, _): return "duplicated keys \(duplicates.joined(separator: ", "))"
        default: return "\(error)"
        }
    }

    private static func parsePrune(_ s: YAMLSection) throws -> PruneStage {
        let methodText = try s.string("method")
        guard let method = PruningMethod(rawValue: methodText) else {
            throw s.error("method", "unknown pruning method '\(methodText)'; use one of \(PruningMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let rewindText = try s.string("rewind", default: "init")
        let rewind: RewindPoint
        do { rewind = try RewindPoint(rewindText) } catch { throw s.error("rewind", "\(error)") }
        var stage = PruneStage(method: method, sparsity: try s.double("sparsity", range: 0...0.999),
                               finetuneEpochs: try s.int("finetune_epochs", default: 2, range: 0...10_000),
                               rounds: try s.has("rounds") ? s.int("rounds", default: 1, range: 1...10_000) : nil, rewind: rewind,
                               learningRate: try s.double("lr", default: 0.001, range: 1e-8...10))
        stage.gradual = try s.bool("gradual", default: false)
        stage.alpha = try s.has("alpha") ? s.double("alpha", range: 0...1) : nil
        try s.finish()
        return stage
    }

    private static func parseQuantize(_ s: YAMLSection) throws -> QuantizeStage {
        let modeText = try s.string("mode", default: QuantizationMode.default.rawValue)
        guard let mode = QuantizationMode(rawValue: modeText) else { throw s.error("mode", "expected ptq or qat, got '\(modeText)'") }
        let calibrationText = try s.string("calibration", default: "minmax")
        guard let calibration = CalibrationRule(rawValue: calibrationText) else {
            throw s.error("calibration", "expected minmax, percentile or mse, got '\(calibrationText)'")
        }
        let stage = QuantizeStage(mode: mode, perChannel: try s.bool("per_channel", default: true), calibration: calibration,
                                  sample: try s.int("sample", default: 2000, range: 1...10_000_000),
                                  epochs: try s.int("epochs", default: 2, range: 1...10_000),
                                  learningRate: try s.double("lr", default: 0.0003, range: 1e-8...10))
        try s.finish()
        return stage
    }

    private static func parseReport(_ s: YAMLSection) throws -> ReportStage {
        var methods = ReportStage.standard.methods
        if s.has("methods") {
            methods = try s.strings("methods").map { text in
                guard let m = PruningMethod(rawValue: text) else {
                    throw s.error("methods", "unknown pruning method '\(text)'; use \(PruningMethod.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return m
            }
        }
        var sparsities = ReportStage.standard.sparsities
        if s.has("sparsities") {
            sparsities = try s.strings("sparsities").map { text in
                guard let v = Double(text), (0..<1).contains(v) else { throw s.error("sparsities", "each sparsity must be a number in 0 ..< 1, got '\(text)'") }
                return v
            }
        }
        let stage = ReportStage(methods: methods, sparsities: sparsities, finetuneEpochs: try s.int("finetune_epochs", default: ReportStage.standard.finetuneEpochs, range: 0...10_000))
        try s.finish()
        return stage
    }

    private static func parseData(_ s: YAMLSection, resolve: (String) -> String) throws -> DataSection {
        var name = try s.string("dataset", default: "fashion-mnist")
        // File data sets resolve against the job file's directory, as every other path does.
        for prefix in ["npz:", "idx:"] where name.hasPrefix(prefix) && name.count > prefix.count {
            name = prefix + resolve(String(name.dropFirst(prefix.count)))
        }
        let source: DataSource
        do { source = try DataSource(name) } catch { throw s.error("dataset", "\(error)") }
        let datasetLine = s.line(of: "dataset")
        let shardSize = try s.int("shard_size", default: 1024, range: 1...1_000_000)
        let augmentation = try s.section("augment").map(parseAugment) ?? Augmentation()
        let normalize: NormalizationSetting
        do { normalize = try NormalizationSetting(parsing: try s.string("normalize", default: NormalizationSetting.default.description)) } catch let error as JobError {
            throw error
        } catch { throw s.error("normalize", "use none, auto or MEAN,STD: \(error)") }
        let limit = try s.has("limit") ? s.int("limit", default: 0, range: 1...100_000_000) : nil
        let testLimit = try s.has("test_limit") ? s.int("test_limit", default: 0, range: 1...100_000_000) : nil
        try s.finish()
        return DataSection(source: source, shardSize: shardSize, augmentation: augmentation, normalize: normalize,
                           limit: limit, testLimit: testLimit, line: datasetLine)
    }

    /// `{translate: N, flip: BOOL}`.
    private static func parseAugment(_ a: YAMLSection) throws -> Augmentation {
        let augmentation = Augmentation(translate: try a.int("translate", default: 0, range: 0...64), horizontalFlip: try a.bool("flip", default: false))
        try a.finish()
        return augmentation
    }

    private static func parseTeacher(_ t: YAMLSection, resolve: (String) -> String) throws -> Teacher {
        let name = try t.string("name")
        let checkpoint = resolve(try t.string("checkpoint"))
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDirectory), isDirectory.boolValue {
            throw t.error("checkpoint", "\(checkpoint) is a directory, not a checkpoint file")
        }
        var model: ModelSpec?
        var epochs = 0
        var augmentation: Augmentation?
        var learningRate = 0.002, batchSize = 128
        if let train = try t.section("train") {
            let text = try train.string("model")
            do { model = try ModelSpec(text) } catch { throw train.error("model", "\(error)") }
            if let problem = model?.memoryProblem { throw train.error("model", problem) }
            epochs = try train.int("epochs", default: 5, range: 1...10_000)
            augmentation = try train.section("augment").map(parseAugment)
            learningRate = try train.double("lr", default: learningRate, range: 1e-8...10)
            batchSize = try train.int("batch_size", default: batchSize, range: 1...65_536)
            try train.finish()
        }
        let workers = try t.strings("workers")
        var normalize: NormalizationSetting?
        if t.has("normalize") {
            let text = try t.string("normalize")
            do { normalize = try NormalizationSetting(parsing: text) } catch { throw t.error("normalize", "use none, auto or MEAN,STD: \(error)") }
        }
        let weight = try t.double("weight", default: 1, range: 1e-6...1e6)
        if checkpoint.lowercased().hasSuffix(".onnx") && model != nil {
            throw t.error("train", "an ONNX teacher cannot be trained here; export it from its framework (or drop 'train:')")
        }
        try t.finish()
        return Teacher(name: name, checkpoint: checkpoint, trainModel: model, trainEpochs: epochs, trainAugmentation: augmentation,
                       workers: workers, normalize: normalize, weight: weight, trainLearningRate: learningRate, trainBatchSize: batchSize)
    }

    private static func parseStudent(_ s: YAMLSection) throws -> Student {
        let modelText = try s.string("model")
        let model: ModelSpec
        do { model = try ModelSpec(modelText) } catch { throw s.error("model", "\(error)") }
        if let problem = model.memoryProblem { throw s.error("model", problem) }
        let optimizerText = try s.string("optimizer", default: OptimizerKind.default.rawValue)
        guard let optimizer = OptimizerKind(rawValue: optimizerText) else {
            throw s.error("optimizer", "unknown optimizer '\(optimizerText)': use sgd or adam")
        }
        let learningRate = try s.double("lr", default: 1e-3, range: 1e-9...10)
        let scheduleText = try s.string("schedule", default: "constant")
        let schedule: LearningRateSchedule
        do { schedule = try LearningRateSchedule.parse(scheduleText) } catch { throw s.error("schedule", "\(error)") }
        let student = Student(model: model, optimizer: optimizer, learningRate: learningRate, schedule: schedule,
                              epochs: try s.int("epochs", default: 10, range: 1...10_000),
                              batchSize: try s.int("batch_size", default: 128, range: 1...65_536),
                              replicas: try s.int("replicas", default: 1, range: 1...64),
                              baseline: try s.bool("baseline", default: false))
        try s.finish()
        return student
    }
}
