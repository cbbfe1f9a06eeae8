import Compression
import Foundation
import NeuralNet

/// `distillery prune`: one checkpoint pruned by a named method, fine-tuned, written sparse, and what it cost.
public struct FilePruning {
    public var method: PruningMethod
    public var sparsity: Double
    /// Lottery tickets and SynFlow: rounds (nil: the method's default).
    public var rounds: Int?
    public var rewind: LotteryTicket.Rewind = .initial
    public var gradual = false
    public var finetuneEpochs = 2
    public var learningRate: Float = 0.001
    /// Images OBD estimates the Hessian diagonal on.
    public var sample = 512
    /// nil: the checkpoint's seed.
    public var seed: UInt64?
    public var teachers = FineTuningTeachers()

    /// The rewind as `--rewind` spells it (init or a step count), as checkpoints record it.
    private var rewindText: String {
        if case let .step(n) = rewind { return "\(n)" }
        return "init"
    }

    public init(method: PruningMethod, sparsity: Double) {
        self.method = method
        self.sparsity = sparsity
    }

    public struct Summary: Encodable {
        public var model: String, out: String, method: String
        public var sparsity: Double
        public var denseAccuracy: Double
        public var prunedAccuracy: Double?
        public var finalAccuracy: Double
        public var bytesIn: Int, bytesOut: Int

        enum CodingKeys: String, CodingKey {
            case model, out, method, sparsity
            case denseAccuracy = "dense_accuracy", prunedAccuracy = "pruned_accuracy", finalAccuracy = "final_accuracy"
            case bytesIn = "bytes_in", bytesOut = "bytes_out"
        }
    }

    /// Prunes the model of `inputs` (read from `model`) into `out`. A stop during fine-tuning still writes the file;
    /// then `PipelineError.stopped` follows the summary's events.
    public func run(_ inputs: CompressionInputs, model: String, out: String) throws -> Summary {
        let control = inputs.control
        let network = inputs.contents.model
        guard inputs.contents.quantized == nil else { throw PipelineError.unsuitableInput("\(model) is quantized: prune the float student, then quantize") }
        let seed = self.seed ?? inputs.contents.metadata.seed ?? 0
        let dense = inputs.accuracy(network)
        let tuner = try inputs.tuner(teachers, learningRate: learningRate, seed: seed) { r in
            control.status("  fine-tune epoch \(r.epoch + 1): test_acc \(formatted(r.test?.accuracy ?? 0))")
        }
        control.status("pruning \(network.spec) (\(network.parameterCount) parameters) by \(method.rawValue) to \(formatted(sparsity * 100, 1)) % sparsity")
        let pruning = PruningRun(method: method, sparsity: sparsity, rounds: rounds, rewind: rewind,
                                 finetuneEpochs: finetuneEpochs, seed: seed, gradual: gradual)
        let result = try pruning.run(network, tuner: tuner, sample: { inputs.sample(sample) }) { round, rounds, m in
            control.status("lottery round \(round)/\(rounds): sparsity \(formatted(m.sparsity * 100, 1)) %")
        }
        let pruned = result.model, achieved = result.sparsity
        let beforeFineTuning = result.beforeFineTuning.map { inputs.accuracy($0) }
        var metadata = inputs.inheritedMetadata
        metadata.pruning = "\(method.rawValue) sparsity=\(sparsity)" + (gradual ? " gradual" : "")
            + (method == .lottery ? " rounds=\(rounds ?? 5) rewind=\(rewindText)" : "")
        metadata.sparsity = achieved
        if let normalization = inputs.normalization { metadata.normalize = normalization.text }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
        try CompressedCheckpoint.save(pruned, sparse: result.storesSparse, metadata: metadata, to: URL(fileURLWithPath: out))
        return Summary(model: model, out: out, method: method.rawValue, sparsity: achieved,
                       denseAccuracy: dense, prunedAccuracy: beforeFineTuning, finalAccuracy: inputs.accuracy(pruned),
                       bytesIn: fileSize(model), bytesOut: fileSize(out))
    }
}
