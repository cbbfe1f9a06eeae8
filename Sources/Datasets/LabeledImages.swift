import Compute

/// Samples with integer labels: images (n, c, h, w) as Float, pixels in [0, 1] for byte data, one label each; or a
/// text's windows (n, context) as int32 byte ids, a label (the next byte) at every position.
public struct LabeledImages: Sendable {
    public var images: Tensor
    public var labels: [Int32]

    public init(images: Tensor, labels: [Int32]) {
        let n = images.shape.first ?? 0
        precondition(n == 0 ? labels.isEmpty : labels.count % n == 0 && !labels.isEmpty,
                     "\(n) samples for \(labels.count) labels")
        self.images = images
        self.labels = labels
    }

    public var count: Int { images.shape.first ?? 0 }
    /// 1 for images; a window's length for text.
    public var labelsPerSample: Int { count == 0 ? 1 : labels.count / count }
    /// Per-sample shape (c, h, w).
    public var sampleShape: [Int] { Array(images.shape.dropFirst()) }
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The first `n` samples (all of them when n is nil or larger).
    public func prefix(_ n: Int?) -> LabeledImages {
        guard let n, n < count else { return self }
        let shape = [n] + sampleShape, labels = Array(labels[0..<(n * labelsPerSample)])
        if images.elementType == .int32 { return LabeledImages(images: Tensor(shape: shape, indices: Array(images.indices[0..<(n * sampleSize)])), labels: labels) }
        return LabeledImages(images: Tensor(shape: shape, scalars: Array(images.scalars[0..<(n * sampleSize)])), labels: labels)
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
