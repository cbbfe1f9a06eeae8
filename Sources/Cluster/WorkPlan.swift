import Datasets
import Jobs

/// The job's work, derived from the job alone so that every daemon (and a restarted coordinator) agrees
/// on it: each epoch visits the training set in a seeded order; shard s of an epoch is positions
/// [s * shardSize, (s + 1) * shardSize) of that order; a work item is (epoch, shard, ensemble member),
/// numbered densely so its id survives restarts. A sample is an image, or a language model's window of text (whose
/// soft targets are a row per position).
public struct WorkPlan: Sendable {
    public struct Item: Hashable, Sendable {
        public var epoch: Int, shard: Int, member: Int
    }

    public let sampleCount: Int
    public let shardSize: Int
    public let members: [String]
    /// Soft-target rows per sample: 1 for an image, the context for a language model's window.
    public let rowsPerSample: Int
    public let epochs: Int
    /// Epochs that need the teachers: all of them with augmentation or without the cache; otherwise the
    /// first, whose soft targets the students keep for later epochs.
    public let teacherEpochs: Int
    public let seed: UInt64

    public init(sampleCount: Int, shardSize: Int, members: [String], epochs: Int, cached: Bool, seed: UInt64, rowsPerSample: Int = 1) {
        self.sampleCount = sampleCount
        self.shardSize = shardSize
        self.members = members
        self.rowsPerSample = rowsPerSample
        self.epochs = epochs
        teacherEpochs = cached ? 1 : epochs
        self.seed = seed
    }

    public init(job: JobSpec, sampleCount: Int) {
        self.init(sampleCount: sampleCount, shardSize: min(job.data.shardSize, sampleCount), members: job.teachers.map(\.name),
                  epochs: job.student.epochs, cached: job.usesSoftTargetCache, seed: job.seed,
                  rowsPerSample: job.student.model.isLanguageModel ? job.student.model.inputShape[0] : 1)
    }

    public var shardsPerEpoch: Int { (sampleCount + shardSize - 1) / shardSize }
    public var itemCount: Int { teacherEpochs * shardsPerEpoch * members.count }

    public func id(_ item: Item) -> UInt64 {
        UInt64((item.epoch * shardsPerEpoch + item.shard) * members.count + item.member)
    }

    public func item(_ id: UInt64) -> Item? {
        guard id < UInt64(itemCount) else { return nil }
        let i = Int(id)
        return Item(epoch: i / (shardsPerEpoch * members.count), shard: (i / members.count) % shardsPerEpoch, member: i % members.count)
    }

    /// Positions in the epoch's order that a shard covers.
    public func positions(shard: Int) -> Range<Int> {
        (shard * shardSize)..<min((shard + 1) * shardSize, sampleCount)
    }

    /// Where an item starts on the job's timeline of samples (epoch * sampleCount + position).
    public func timelineStart(_ item: Item) -> Int { item.epoch * sampleCount + item.shard * shardSize }

    public func order(epoch: Int) -> [Int] { LabeledImages.epochOrder(count: sampleCount, seed: seed, epoch: epoch) }
}

extension JobSpec {
    /// Soft targets are computed once and kept only when every epoch sees the same images (or windows). A language
    /// model's are kept when top-k: as their k classes and the tail (5 k + 4 bytes a position; 164 at k = 32);
    /// whole rows of 256 are computed online each epoch, as a corpus's would not fit (4.6 GB for the plays at
    /// context 128).
    public var usesSoftTargetCache: Bool {
        cacheSoftTargets && data.augmentation.isIdentity && (!student.model.isLanguageModel || softTargets.isTopK)
    }
}
