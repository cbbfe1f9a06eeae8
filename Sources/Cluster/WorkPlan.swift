import Datasets
import Jobs

/// The job's work, derived from the job alone so that every daemon (and a restarted coordinator) agrees
/// on it: each epoch visits the training set in a seeded order; shard s of an epoch is positions
/// [s * shardSize, (s + 1) * shardSize) of that order; a work item is (epoch, shard, ensemble member),
/// numbered densely so its id survives restarts.
public struct WorkPlan: Sendable {
    public struct Item: Hashable, Sendable {
        public var epoch: Int, shard: Int, member: Int
    }

    public let sampleCount: Int
    public let shardSize: Int
    public let members: [String]
    public let epochs: Int
    /// Epochs that need the teachers: all of them with augmentation or without the cache; otherwise the
    /// first, whose soft targets the students keep for later epochs.
    public let teacherEpochs: Int
    public let seed: UInt64

    public init(sampleCount: Int, shardSize: Int, members: [String], epochs: Int, cached: Bool, seed: UInt64) {
        self.sampleCount = sampleCount
        self.shardSize = shardSize
        self.members = members
        self.epochs = epochs
        teacherEpochs = cached ? 1 : epochs
        self.seed = seed
    }

    public init(job: JobSpec, sampleCount: Int) {
        self.init(sampleCount: sampleCount, shardSize: min(job.data.shardSize, sampleCount), members: job.teachers.map(\.name),
                  epochs: job.student.epochs, cached: job.usesSoftTargetCache, seed: job.seed)
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
    /// Soft targets are computed once and kept only when every epoch sees the same images.
    public var usesSoftTargetCache: Bool { cacheSoftTargets && data.augmentation.isIdentity }
}
