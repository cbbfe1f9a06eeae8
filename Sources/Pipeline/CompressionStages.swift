import Cluster
import Compression
import Compute
import Foundation
import Jobs
import NeuralNet

/// A job's `prune:` and `quantize:` stages, run on the distilled student after `distillery run`, and the table
/// of what each step costs and saves: accuracy, bytes on disk, latency at batch 1 and 256.
public struct CompressionStages {
    public let context: JobContext
    public let control: RunControl

    public init(context: JobContext, control: RunControl) {
        self.context = context
        self.control = control
    }

    public struct Entry: Encodable {
        public var stage: String, file: String, format: String
        public var parameters: Int
        public var sparsity: Double
        public var testAccuracy: Double
        public var bytes: Int
        public var millisecondsBatch1: Double, millisecondsBatch256: Double

        enum CodingKeys: String, CodingKey {
            case stage, file, format, parameters, sparsity, bytes
            case testAccuracy = "test_accuracy", millisecondsBatch1 = "ms_per_batch_1", millisecondsBatch256 = "ms_per_batch_256"
        }
    }

    public struct Outcome: Encodable {
        public var entries: [Entry]
        /// Dense fp32 bytes over the last stage's bytes, and its speed-ups at batch 256 and 1.
        public var sizeRatio: Double, speedupBatch256: Double, speedupBatch1: Double

        enum CodingKeys: String, CodingKey {
            case entries
            case sizeRatio = "size_ratio", speedupBatch256 = "speedup_batch_256", speedupBatch1 = "speedup_batch_1"
        }

        public var table: String {
            let rows = entries.map { e in
                [e.stage, URL(fileURLWithPath: e.file).lastPathComponent, e.format, "\(e.parameters)", formatted(e.sparsity * 100, 1) + " %",
                 formatted(e.testAccuracy * 100, 2) + " %", "\(e.bytes)", formatted(e.millisecondsBatch1, 3), formatted(e.millisecondsBatch256, 2)]
            }
            let table = MarkdownTable(header: ["stage", "file", "weights", "parameters", "sparsity", "test accuracy", "bytes on disk",
                                               "ms at batch 1", "ms at batch 256"], rows: rows, rightAligned: [3, 4, 5, 6, 7, 8])
            return table.text + "\n\ncompressed student: \(formatted(sizeRatio, 1))x smaller than dense fp32, "
                + "\(formatted(speedupBatch256, 2))x its speed at batch 256, \(formatted(speedupBatch1, 2))x at batch 1"
        }
    }

    public var studentPath: String { "\(context.spec.outputDirectory)/student.safetensors" }
    public var prunedPath: String { "\(context.spec.outputDirectory)/student-pruned.safetensors" }
    public var quantizedPath: String { "\(context.spec.outputDirectory)/student-int8.safetensors" }

    /// Runs the stages the job names; nil when it names none.
    public func run() throws -> Outcome? {
        let spec = context.spec
        guard spec.prune != nil || spec.quantize != nil else { return nil }
        var source = studentPath
        var inputs = try CompressionInputs(model: source, context: context, split: context.split, control: control)
        let seed = inputs.contents.metadata.seed ?? spec.seed
        if let stage = spec.prune {
            control.status("pruning the student by \(stage.method.rawValue) to \(formatted(stage.sparsity * 100, 1)) % sparsity")
            let tuner = try inputs.jobTuner(learningRate: Float(stage.learningRate), seed: seed, alpha: stage.alpha) { r in
                control.status("  fine-tune epoch \(r.epoch + 1): test_acc \(formatted(r.test?.accuracy ?? 0))")
            }
            let result = try PruningRun(method: stage.method, sparsity: stage.sparsity, rounds: stage.rounds, rewind: stage.rewind,
                                        finetuneEpochs: stage.finetuneEpochs, seed: seed, gradual: stage.gradual)
                .run(inputs.contents.model, tuner: tuner, sample: { inputs.sample(512) }) { round, rounds, m in
                    control.status("  lottery round \(round)/\(rounds): sparsity \(formatted(m.sparsity * 100, 1)) %")
                }
            var metadata = inputs.inheritedMetadata
            metadata.pruning = "\(stage.method.rawValue) sparsity=\(stage.sparsity)"
            try CompressedCheckpoint.save(result.model, sparse: result.storesSparse, metadata: metadata, to: URL(fileURLWithPath: prunedPath))
            source = prunedPath
            inputs = try CompressionInputs(model: source, context: context, split: context.split, control: control)
        }
        try control.checkStop()
        if let stage = spec.quantize {
            control.status("quantizing to int8 (\(stage.mode.rawValue), \(stage.perChannel ? "per-channel" : "per-tensor"), \(stage.calibration.rawValue))")
            let network = inputs.contents.model, sample = inputs.sample(stage.sample)
            let quantized: QuantizedModel
            if stage.mode == .qat {
                let tuner = try inputs.jobTuner(learningRate: Float(stage.learningRate), seed: seed) { r in
                    control.status("  qat epoch \(r.epoch + 1): simulated int8 test_acc \(formatted(r.test?.accuracy ?? 0))")
                }
                quantized = try QuantizationAwareTraining.run(network, sample: sample, perChannel: stage.perChannel,
                                                              calibration: stage.calibration, tuner: tuner, epochs: stage.epochs)
            } else {
                quantized = try QuantizedModel.postTraining(network, sample: sample, perChannel: stage.perChannel, calibration: stage.calibration)
            }
            var metadata = inputs.inheritedMetadata
            metadata.quantization = "\(stage.mode.rawValue) calibration=\(stage.calibration.rawValue)"
            try CompressedCheckpoint.save(quantized, sparse: PruningMasks.nonzero(quantized.float).sparsity > 0.125,
                                          metadata: metadata, to: URL(fileURLWithPath: quantizedPath))
        }
        return try measure()
    }

    /// The table rows for the student files present in the output directory.
    public func measure() throws -> Outcome? {
        let stages = [("dense fp32", studentPath), ("pruned", prunedPath), ("int8", quantizedPath)]
            .filter { FileManager.default.fileExists(atPath: $0.1) }
        guard stages.count > 1 else { return nil }
        control.status("measuring accuracy, size and latency of \(stages.map(\.0).joined(separator: ", "))")
        let test = context.split.test
        let loaded = try stages.map { try CompressionInputs(model: $0.1, context: context, split: context.split, control: control) }
        let forwards = try loaded.map { try $0.contents.inference() }
        let ones = loaded.map { test.batch([0], normalization: $0.normalization).images }
        let batches = loaded.map { test.batch(Array(0..<min(256, test.count)), normalization: $0.normalization).images }
        // Alternating rounds, as `bench infer` does, so a noisy moment hits every stage alike.
        var rates1 = [[Double]](repeating: [], count: stages.count), rates256 = rates1
        for (i, forward) in forwards.enumerated() { _ = forward(ones[i]); _ = forward(batches[i]) }
        for _ in 0..<7 {
            for (i, forward) in forwards.enumerated() {
                rates1[i].append(InferenceTiming.round(forward, input: ones[i], seconds: 0.1))
                rates256[i].append(InferenceTiming.round(forward, input: batches[i], seconds: 0.15))
            }
        }
        var entries: [Entry] = []
        for (i, (stage, path)) in stages.enumerated() {
            let model = loaded[i].contents.model
            let original = entries.first?.parameters ?? model.parameterCount
            let zeros = PruningMasks.nonzero(model)
            let removed = 1 - Double(model.parameterCount - (zeros.total - zeros.kept)) / Double(original)
            entries.append(Entry(stage: stage, file: path, format: loaded[i].contents.format, parameters: model.parameterCount,
                                 sparsity: removed, testAccuracy: loaded[i].accuracy(forwards[i]), bytes: fileSize(path),
                                 millisecondsBatch1: 1000 / InferenceTiming.median(rates1[i]),
                                 millisecondsBatch256: 1000 * Double(batches[i].shape[0]) / InferenceTiming.median(rates256[i])))
        }
        let first = entries.first!, last = entries.last!
        return Outcome(entries: entries, sizeRatio: Double(first.bytes) / Double(max(last.bytes, 1)),
                       speedupBatch256: first.millisecondsBatch256 / last.millisecondsBatch256,
                       speedupBatch1: first.millisecondsBatch1 / last.millisecondsBatch1)
    }
}
