import Foundation
import Testing
import TestSupport
@testable import Datasets

/// Writes MNIST-style IDX files: images (n, h, w) of bytes and labels (n).
enum IDXFixture {
    static func images(_ pixels: [UInt8], n: Int, h: Int, w: Int) -> [UInt8] {
        [0, 0, 8, 3] + [n, h, w].flatMap(bigEndian) + pixels
    }

    static func labels(_ values: [UInt8]) -> [UInt8] {
        [0, 0, 8, 1] + bigEndian(values.count) + values
    }

    static func bigEndian(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// A small data set in `dir` with the four standard file names, gzipped when asked.
    static func write(to dir: URL, train: Int = 12, test: Int = 5, gzip: Bool) throws {
        for (split, n) in [("train", train), ("t10k", test)] {
            let pixels = (0..<(n * 4 * 3)).map { UInt8(($0 * 37) % 256) }
            let labels = (0..<n).map { UInt8($0 % 3) }
            try save(images(pixels, n: n, h: 4, w: 3), dir.appendingPathComponent("\(split)-images-idx3-ubyte"), gzip: gzip)
            try save(Self.labels(labels), dir.appendingPathComponent("\(split)-labels-idx1-ubyte"), gzip: gzip)
        }
    }

    static func save(_ bytes: [UInt8], _ url: URL, gzip: Bool) throws {
        try Data(bytes).write(to: url)
        if gzip {
            let result = try TestSupport.run("/bin/gzip", ["-f", url.path])
            guard result.status == 0 else { throw TestSupportError("gzip failed: \(result.stderr)") }
        }
    }
}

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func readsPlainAndGzippedFiles(gzip: Bool) throws {
        let dir = try TestSupport.temporaryDirectory()
        try IDXFixture.write(to: dir, gzip: gzip)
        let split = try DataSource("idx:\(dir.path)").load()
        #expect(split.train.count == 12 && split.test.count == 5)
        #expect(split.train.sampleShape == [1, 4, 3])
        #expect(split.classes == 3)
        #expect(split.train.images.scalars[1] == Float(37) / 255)
        #expect(split.train.labels.prefix(4) == [0, 1, 2, 0])
    }

    @Test func aPrefixSelectsFilesByName() throws {
        let dir = try TestSupport.temporaryDirectory()
        let sub = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try IDXFixture.write(to: sub, gzip: false)
        for name in try FileManager.default.contentsOfDirectory(atPath: sub.path) {
            try FileManager.default.moveItem(atPath: sub.appendingPathComponent(name).path, toPath: dir.appendingPathComponent("my-" + name).path)
        }
        #expect(try DataSource("idx:\(dir.path)/my-").load().train.count == 12)
    }

    @Test func badFilesAreNamedWithTheProblem() throws {
        let dir = try TestSupport.temporaryDirectory()
        try IDXFixture.write(to: dir, gzip: false)
        let imagesURL = dir.appendingPathComponent("train-images-idx3-ubyte")
        let labelsURL = dir.appendingPathComponent("train-labels-idx1-ubyte")
        let good = try [UInt8](Data(contentsOf: imagesURL))
        func expectFailure(_ reason: String, file: URL) {
            do {
                _ = try DataSource("idx:\(dir.path)").load()
                Issue.record("loaded despite: \(reason)")
            } catch let error as DatasetError {
                #expect(error.source == file.path || error.problem.contains(file.path), "\(error)")
                #expect(error.description.contains(reason), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        try Data(good.dropLast(7)).write(to: imagesURL)
        expectFailure("truncated", file: imagesURL)
        try Data([0x08, 0x03] + good.dropFirst(2)).write(to: imagesURL)
        expectFailure("wrong magic", file: imagesURL)
        try Data(IDXFixture.images(Array(good.dropFirst(16)), n: 12, h: 4, w: 3)).write(to: imagesURL)
        try Data(IDXFixture.labels([0, 1, 2])).write(to: labelsURL)
        expectFailure("12 images but", file: imagesURL)
        try FileManager.default.removeItem(at: labelsURL)
        expectFailure("no such file", file: labelsURL)
        // A corrupt gzip stream is an error, not garbage data.
        try Data(IDXFixture.labels((0..<12).map { UInt8($0 % 3) })).write(to: labelsURL)
        try IDXFixture.save(good, imagesURL, gzip: true)
        let gz = dir.appendingPathComponent("train-images-idx3-ubyte.gz")
        var compressed = try [UInt8](Data(contentsOf: gz))
        compressed.removeLast(compressed.count / 2)
        try Data(compressed).write(to: gz)
        expectFailure("cannot decompress", file: gz)
    }

    @Test func unknownNamesAreExplained() {
        #expect(throws: DatasetError.self) { try DataSource("cifar") }
        #expect((try? DataSource("fashion-mnist")) == .idx(prefix: "/usr/share/datasets/fashion-mnist/"))
    }

    @Test func debiansFashionMNIST() throws {
        guard try TestSupport.fashionMNIST() != nil else { return }
        let split = try DataSource("fashion-mnist").load()
        #expect(split.train.count == 60_000 && split.test.count == 10_000)
        #expect(split.train.sampleShape == [1, 28, 28] && split.classes == 10)
        let counts = (0..<10).map { c in split.test.labels.filter { $0 == c }.count }
        #expect(counts == [Int](repeating: 1000, count: 10))
        #expect(split.train.images.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}
