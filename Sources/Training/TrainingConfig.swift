import Datasets
import NeuralNet

/// Everything that decides a training run; recorded in the checkpoint as provenance.
public struct TrainingConfig: Sendable {
    public typealias OptimizerKind = NeuralNet.OptimizerKind

    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerKind
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    public var schedule: LearningRateSchedule
    public var seed: UInt64
    public var augmentation: Augmentation

    public init(epochs: Int = 10, batchSize: Int = 128, optimizer: OptimizerKind = .adam, learningRate: Float = 1e-3,
                momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0,
                schedule: LearningRateSchedule = .constant, seed: UInt64 = 0, augmentation: Augmentation = Augmentation()) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.schedule = schedule; self.seed = seed; self.augmentation = augmentation
    }

    public func makeOptimizer() -> Optimizer {
        switch optimizer {
        case .sgd: return SGD(learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        case .adam: return Adam(learningRate: learningRate, weightDecay: weightDecay)
        }
    }
}
