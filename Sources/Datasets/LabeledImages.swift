import Compute

/// Images (n, c, h, w) as Float, pixels in [0, 1] for byte data, with integer labels.
public struct LabeledImages: Sendable {
    public var images: Tensor
    public var labels: [Int32]

    public init(images: Tensor, labels: [Int32]) {
        precondition(images.shape.first == labels.count, "\(images.shape[0]) images for \(labels.count) labels")
        self.images = images
        self.labels = labels
    }

    public var count: Int { labels.count }
    /// Per-sample shape (c, h, w).
    public var sampleShape: [Int] { Array(images.shape.dropFirst()) }
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The first `n` samples (all of them when n is nil or larger).
    public func prefix(_ n: Int?) -> LabeledImages {
        guard let n, n < count else { return self }
        return LabeledImages(images: Tensor(shape: [n] + sampleShape, scalars: Array(images.scalars[0..<(n * sampleSize)])),
                             labels: Array(labels[0..<n]))
    }
}

/// A data set's training and test splits.
public struct DataSplit: Sendable {
    public var name: String
    public var train: LabeledImages
    public var test: LabeledImages

    /// One more than the largest label in either split.
    public var classes: Int { Int(max(train.labels.max() ?? 0, test.labels.max() ?? 0)) + 1 }
}
