import Compute
import Datasets
import NeuralNet
import Training

/// Trains a pruned network with its masks held fixed: on the teachers' soft targets plus the hard labels when
/// teachers are given (the distillation loss the student was made with), on the hard labels alone otherwise.
public struct FineTuner {
    public struct Teachers {
        public var temperature: Float, alpha: Float
        /// The soft targets of one fine-tuning run (its settings given): the models here, or a cluster job started for it.
        public var source: (TrainingConfig) throws -> any SoftTargetSource

        /// `passCuts`: a job's shard size, so the teachers' arithmetic is the cluster's (`TeacherPasses`).
        public init(models: [any Classifier], temperature: Float, alpha: Float, rule: Ensemble.Rule = .probabilities, passCuts: [Int] = []) {
            self.init(temperature: temperature, alpha: alpha) { _ in InProcessTeachers(models, temperature: temperature, rule: rule, passCuts: passCuts) }
        }

        public init(temperature: Float, alpha: Float, source: @escaping (TrainingConfig) throws -> any SoftTargetSource) {
            self.temperature = temperature; self.alpha = alpha; self.source = source
        }
    }

    public var train: LabeledImages
    public var test: LabeledImages?
    public var config: TrainingConfig
    public var normalization: Normalization?
    public var teachers: Teachers?
    public var shouldStop: () -> Bool
    public var onEpoch: (EpochReport) -> Void

    public init(train: LabeledImages, test: LabeledImages?, config: TrainingConfig, normalization: Normalization?,
                teachers: Teachers?, shouldStop: @escaping () -> Bool = { false }, onEpoch: @escaping (EpochReport) -> Void = { _ in }) {
        self.train = train; self.test = test; self.config = config; self.normalization = normalization
        self.teachers = teachers; self.shouldStop = shouldStop; self.onEpoch = onEpoch
    }

    /// `epochs` epochs (a fresh schedule) with `masks` re-applied after every step; `maxSteps` ends early
    /// (lottery tickets rewind to such an early point).
    @discardableResult
    public func fit(_ model: Network, masks: PruningMasks?, epochs: Int, maxSteps: Int? = nil) throws -> [EpochReport] {
        try fit(model, epochs: epochs, maxSteps: maxSteps) { _ in masks }
    }

    /// The same with the mask chosen at the start of every epoch (after its first step): `masks(epoch)` sees the
    /// weights trained so far (gradual pruning raises the sparsity this way).
    @discardableResult
    public func fit(_ model: Network, epochs: Int, maxSteps: Int? = nil, masks: @escaping (Int) -> PruningMasks?) throws -> [EpochReport] {
        guard epochs > 0 else { return [] }
        var config = config
        config.epochs = epochs
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        var steps = 0, maskEpoch = 0
        var current = masks(0)
        current?.apply(to: model)
        let afterStep = {
            steps += 1
            // A new epoch's mask takes over after its first step, so each epoch's report sees it trained.
            let epoch = (steps - 1) / stepsPerEpoch
            if epoch > maskEpoch {
                maskEpoch = epoch
                current = masks(epoch)
            }
            current?.apply(to: model)
        }
        let stop = { shouldStop() || (maxSteps.map { steps >= $0 } ?? false) }
        if let teachers {
            let distiller = Distiller(student: model, source: try teachers.source(config), config: config, normalization: normalization,
                                      temperature: teachers.temperature, alpha: teachers.alpha)
            distiller.afterStep = afterStep
            return try distiller.fit(train, test: test, shouldStop: stop, onEpoch: onEpoch)
        }
        let trainer = Trainer(model: model, config: config, normalization: normalization)
        trainer.afterStep = afterStep
        return trainer.fit(train, test: test, shouldStop: stop, onEpoch: onEpoch)
    }
}
