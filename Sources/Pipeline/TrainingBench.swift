import Compute
import Dispatch
import NeuralNet
import Training

/// `distillery bench train`: training samples/s of a model on synthetic data, the median of timed blocks.
public struct TrainingBench {
    public var model: ModelSpec
    public var batchSize: Int, optimizer: OptimizerKind
    public var steps: Int, repeats: Int, warmup: Int

    public init(model: ModelSpec, batchSize: Int, optimizer: OptimizerKind, steps: Int, repeats: Int, warmup: Int) {
        self.model = model; self.batchSize = batchSize; self.optimizer = optimizer
        self.steps = steps; self.repeats = repeats; self.warmup = warmup
    }

    public struct Summary: Encodable {
        public var model: String
        public var batchSize: Int
        public var optimizer: String
        public var threads: Int
        public var samplesPerSecond: Double
        /// A language model's positions trained per second (samples times the context); nil for other models.
        public var tokensPerSecond: Double?
        public var runs: [Double]

        enum CodingKeys: String, CodingKey {
            case model, optimizer, threads, runs
            case batchSize = "batch_size", samplesPerSecond = "samples_per_second", tokensPerSecond = "tokens_per_second"
        }
    }

    public func run() throws -> Summary {
        let network = try Network(model, seed: 1)
        let config = TrainingConfig(optimizer: optimizer, learningRate: optimizer == .sgd ? 0.01 : 1e-3, momentum: 0.9)
        let trainer = Trainer(model: network, config: config, normalization: nil)
        var rng = SeededRandom(seed: 7)
        let values = batchSize * network.inputShape.reduce(1, *)
        // A language model reads token ids and is scored at every position.
        let images = model.isLanguageModel
            ? Tensor(shape: [batchSize] + network.inputShape, indices: (0..<values).map { _ in Int32(rng.nextInt(below: network.classes)) })
            : Tensor(shape: [batchSize] + network.inputShape, scalars: (0..<values).map { _ in rng.nextFloat() })
        let labels = (0..<(model.isLanguageModel ? values : batchSize)).map { _ in Int32(rng.nextInt(below: network.classes)) }
        for _ in 0..<warmup { _ = trainer.step(images: images, labels: labels) }
        var rates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { _ = trainer.step(images: images, labels: labels) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            rates.append(Double(steps * batchSize) / seconds)
        }
        let median = InferenceTiming.median(rates)
        return Summary(model: network.spec.text, batchSize: batchSize, optimizer: optimizer.rawValue, threads: ComputeThreads.current,
                       samplesPerSecond: median, tokensPerSecond: model.isLanguageModel ? median * Double(network.inputShape[0]) : nil,
                       runs: rates)
    }
}
