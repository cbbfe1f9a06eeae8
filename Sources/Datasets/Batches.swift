import Compute

/// Random translation (pad by `translate` pixels and crop back, as torchvision's RandomCrop with
/// padding) and horizontal flip. Each sample's draw depends only on (seed, sample index), so any
/// machine rebuilds exactly the same augmented image whatever batch it falls in.
public struct Augmentation: Sendable, Equatable {
    public var translate: Int
    public var horizontalFlip: Bool

    public init(translate: Int = 0, horizontalFlip: Bool = false) {
        self.translate = translate
        self.horizontalFlip = horizontalFlip
    }

    public var isIdentity: Bool { translate == 0 && !horizontalFlip }

    /// Writes the augmented sample (c, h, w) from `src` to `dst`; pixels shifted in from outside are 0.
    public func apply(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>,
                      shape: [Int], seed: UInt64, sampleIndex: Int) {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        var rng = SeededRandom(seed: seed, stream: UInt64(sampleIndex))
        let span = 2 * translate + 1
        let dy = rng.nextInt(below: span) - translate
        let dx = rng.nextInt(below: span) - translate
        let flip = horizontalFlip && rng.next() & 1 == 1
        for ch in 0..<c {
            for y in 0..<h {
                let sy = y + dy
                let out = dst + (ch * h + y) * w
                guard sy >= 0 && sy < h else { out.update(repeating: 0, count: w); continue }
                let line = src + (ch * h + sy) * w
                for x in 0..<w {
                    let sx = (flip ? w - 1 - x : x) + dx
                    out[x] = sx >= 0 && sx < w ? line[sx] : 0
                }
            }
        }
    }
}

extension LabeledImages {
    /// The sample order of `epoch`: a permutation drawn from (seed, epoch), identical on every machine.
    public static func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeededRandom(seed: seed, stream: 0xE90C, UInt64(epoch))
        return rng.permutation(count)
    }

    /// Gathers samples into a batch (batch, c, h, w), augmented when asked, then normalised.
    public func batch(_ indices: [Int], augmentation: Augmentation? = nil, augmentationSeed: UInt64 = 0,
                      normalization: Normalization? = nil) -> (images: Tensor, labels: [Int32]) {
        let size = sampleSize
        if images.elementType == .int32 {
            // Token windows: gathered as they are; the labels are the window's next bytes.
            let per = labelsPerSample
            return (Tensor(shape: [indices.count] + sampleShape, indices: indices.flatMap { images.indices[($0 * size)..<(($0 + 1) * size)] }),
                    indices.flatMap { labels[($0 * per)..<(($0 + 1) * per)] })
        }
        var out = Tensor(zeros: [indices.count] + sampleShape)
        let augment = augmentation.flatMap { $0.isIdentity || sampleShape.count != 3 ? nil : $0 }
        images.scalars.withUnsafeBufferPointer { src in
            out.scalars.withUnsafeMutableBufferPointer { dst in
                for (row, index) in indices.enumerated() {
                    let from = src.baseAddress! + index * size, to = dst.baseAddress! + row * size
                    if let augment {
                        augment.apply(from, to: to, shape: sampleShape, seed: augmentationSeed, sampleIndex: index)
                    } else {
                        to.update(from: from, count: size)
                    }
                }
            }
        }
        normalization?.apply(to: &out)
        return (out, indices.map { labels[$0] })
    }
}
