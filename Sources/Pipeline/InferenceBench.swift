import Compression
import Compute
import Foundation
import ONNX

/// `distillery bench infer`: inference samples/s of model files on synthetic inputs, timed in alternating rounds
/// so a noisy machine treats them alike; ratios against the first.
public struct InferenceBench {
    public var models: [String]
    public var batchSize: Int, repeats: Int
    /// Seconds each round runs at least.
    public var seconds: Double

    public init(models: [String], batchSize: Int, repeats: Int, seconds: Double) {
        self.models = models; self.batchSize = batchSize; self.repeats = repeats; self.seconds = seconds
    }

    public struct Summary: Encodable {
        public var model: String, format: String
        public var batchSize: Int, threads: Int
        public var samplesPerSecond: Double
        public var runs: [Double]
        public var ratioToFirst: Double?

        enum CodingKeys: String, CodingKey {
            case model, format, threads, runs
            case batchSize = "batch_size", samplesPerSecond = "samples_per_second", ratioToFirst = "ratio_to_first"
        }
    }

    public func run() throws -> [Summary] {
        let loaded = try models.map(Self.load)
        let runners = loaded.map(\.run)
        var rng = SeededRandom(seed: 3)
        let inputs = loaded.map { l in
            let count = batchSize * l.inputShape.reduce(1, *)
            // A language model reads token ids.
            if let vocabulary = l.vocabulary {
                return Tensor(shape: [batchSize] + l.inputShape, indices: (0..<count).map { _ in Int32(rng.nextInt(below: vocabulary)) })
            }
            return Tensor(shape: [batchSize] + l.inputShape, scalars: (0..<count).map { _ in rng.nextFloat() })
        }
        for (runner, x) in zip(runners, inputs) { _ = try runner(x) }  // warm-up
        var rates = [[Double]](repeating: [], count: runners.count)
        for _ in 0..<repeats {
            for (i, (runner, x)) in zip(runners, inputs).enumerated() { rates[i].append(try InferenceTiming.round(runner, input: x, seconds: seconds)) }
        }
        let medians = rates.map(InferenceTiming.median)
        return zip(models, loaded).enumerated().map { i, pair in
            Summary(model: pair.0, format: pair.1.format, batchSize: batchSize, threads: ComputeThreads.current,
                    samplesPerSecond: medians[i], runs: rates[i], ratioToFirst: i == 0 ? nil : medians[i] / medians[0])
        }
    }

    /// A file's forward pass, per-sample input shape, storage format, and a language model's vocabulary.
    static func load(_ path: String) throws -> (run: (Tensor) throws -> Tensor, inputShape: [Int], format: String, vocabulary: Int?) {
        if path.lowercased().hasSuffix(".onnx") {
            let model = try OnnxModel.load(URL(fileURLWithPath: path))
            return (model.logits, model.runner.sampleShape, "onnx", nil)
        }
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        let network = contents.model
        return (try contents.inference(), network.inputShape, contents.format, network.spec.isLanguageModel ? network.outputShape.last : nil)
    }
}
