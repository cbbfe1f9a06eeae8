import Compute
import Testing
@testable import Datasets

@Suite struct AugmentationTests {
    let data: LabeledImages = {
        let n = 6
        let pixels = (0..<(n * 2 * 5 * 5)).map { Float($0 % 97) / 97 + 0.01 }
        return LabeledImages(images: Tensor(shape: [n, 2, 5, 5], scalars: pixels), labels: (0..<n).map { Int32($0 % 2) })
    }()

    @Test func sameSeedRebuildsTheSameSamplesInAnyBatch() {
        let augmentation = Augmentation(translate: 2, horizontalFlip: true)
        let whole = data.batch([0, 1, 2, 3, 4, 5], augmentation: augmentation, augmentationSeed: 77)
        let part = data.batch([4, 1], augmentation: augmentation, augmentationSeed: 77)
        let size = data.sampleSize
        #expect(Array(part.images.scalars[0..<size]) == Array(whole.images.scalars[(4 * size)..<(5 * size)]))
        #expect(Array(part.images.scalars[size...]) == Array(whole.images.scalars[size..<(2 * size)]))
        #expect(part.labels == [0, 1])
        let other = data.batch([0, 1, 2, 3, 4, 5], augmentation: augmentation, augmentationSeed: 78)
        #expect(other.images != whole.images)
    }

    /// Every augmented image is the original shifted by (dy, dx) within ±translate, maybe mirrored, zero-filled.
    @Test func outputsAreShiftedOrMirroredCopies() {
        let augmentation = Augmentation(translate: 1, horizontalFlip: true)
        let out = data.batch(Array(0..<6), augmentation: augmentation, augmentationSeed: 5)
        var sawFlip = false, sawShift = false
        for i in 0..<6 {
            let original = Array(data.images.scalars[(i * 50)..<(i * 50 + 50)])
            let augmented = Array(out.images.scalars[(i * 50)..<(i * 50 + 50)])
            var matched = false
            for flip in [false, true] { for dy in -1...1 { for dx in -1...1 {
                var candidate = [Float](repeating: 0, count: 50)
                for c in 0..<2 { for y in 0..<5 { for x in 0..<5 {
                    let sy = y + dy, sx = (flip ? 4 - x : x) + dx
                    if sy >= 0 && sy < 5 && sx >= 0 && sx < 5 { candidate[(c * 5 + y) * 5 + x] = original[(c * 5 + sy) * 5 + sx] }
                } } }
                if candidate == augmented { matched = true; sawFlip = sawFlip || flip; sawShift = sawShift || dx != 0 || dy != 0 }
            } } }
            #expect(matched, "sample \(i) is not a shifted copy")
        }
        #expect(sawFlip && sawShift)
    }

    @Test func epochOrderIsASeededPermutation() {
        let a = LabeledImages.epochOrder(count: 100, seed: 1, epoch: 0)
        #expect(a.sorted() == Array(0..<100))
        #expect(a == LabeledImages.epochOrder(count: 100, seed: 1, epoch: 0))
        #expect(a != LabeledImages.epochOrder(count: 100, seed: 1, epoch: 1))
    }

    @Test func normalizationIsFittedAndApplied() throws {
        let n = Normalization.fitted(to: data)
        #expect(n.mean.count == 2)
        var batch = data.batch(Array(0..<6)).images
        n.apply(to: &batch)
        for c in 0..<2 {
            var values: [Float] = []
            for i in 0..<6 { values += batch.scalars[((i * 2 + c) * 25)..<((i * 2 + c) * 25 + 25)] }
            let mean = values.reduce(0, +) / Float(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
            #expect(abs(mean) < 1e-4 && abs(variance - 1) < 1e-3)
        }
        #expect(try Normalization(parsing: n.text) == n)
        #expect(throws: DatasetError.self) { try Normalization(parsing: "0.5") }
        #expect(throws: DatasetError.self) { try Normalization(parsing: "0.5,0") }
    }
}
