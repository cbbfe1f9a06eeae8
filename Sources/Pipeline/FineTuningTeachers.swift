import Compression
import Training

/// Whom fine-tuning after pruning or during quantization-aware training learns from: a job's teachers (through a
/// local cluster, or in this process), teacher checkpoint files, or nobody (hard labels).
public struct FineTuningTeachers: Sendable {
    /// Teacher checkpoints; empty: the job's teachers, if a job was given.
    public var files: [String]
    /// The temperature for `files` (a job brings its own).
    public var temperature: Float
    /// The soft-target weight; nil: the job's alpha, 0.5 for `files`.
    public var alpha: Float?
    /// A job's teachers serve through a local cluster (false: in this process).
    public var throughCluster: Bool

    public init(files: [String] = [], temperature: Float = 2, alpha: Float? = nil, throughCluster: Bool = true) {
        self.files = files
        self.temperature = temperature
        self.alpha = alpha
        self.throughCluster = throughCluster
    }
}

extension CompressionInputs {
    func tuner(_ teachers: FineTuningTeachers, learningRate: Float, seed: UInt64, onEpoch: @escaping (EpochReport) -> Void) throws -> FineTuner {
        try tuner(teacherPaths: teachers.files, temperature: teachers.temperature, alpha: teachers.alpha, throughCluster: teachers.throughCluster,
                  learningRate: learningRate, seed: seed, onEpoch: onEpoch)
    }
}
