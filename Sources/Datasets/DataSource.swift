import Compute
import Foundation

/// Where a data set comes from: `fashion-mnist` (Debian's dataset-fashion-mnist), `idx:PREFIX`
/// (the four MNIST-style files PREFIX{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; a directory
/// PREFIX means the files inside it), `npz:FILE` (x_train, y_train, x_test, y_test as Keras' mnist.npz); or text for
/// byte-level language models, `text:PATH` (a file or a folder of files) and `shakespeare` (`TextCorpus`).
public enum DataSource: Sendable, Equatable, CustomStringConvertible {
    case idx(prefix: String)
    case npz(path: String)
    case text(path: String)
    case shakespeare

    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist/"
    public static let named: [String: DataSource] = ["fashion-mnist": .idx(prefix: fashionMNISTDirectory), "shakespeare": .shakespeare]

    /// Whether the samples are a text's windows (a language model's data) rather than images.
    public var isText: Bool {
        switch self {
        case .text, .shakespeare: return true
        default: return false
        }
    }

    public init(_ text: String) throws {
        if let known = DataSource.named[text] {
            self = known
        } else if text.hasPrefix("idx:"), text.count > 4 {
            self = .idx(prefix: String(text.dropFirst(4)))
        } else if text.hasPrefix("npz:"), text.count > 4 {
            self = .npz(path: String(text.dropFirst(4)))
        } else if text.hasPrefix("text:"), text.count > 5 {
            self = .text(path: String(text.dropFirst(5)))
        } else {
            throw DatasetError(text, "unknown data set: use fashion-mnist, idx:PREFIX, npz:FILE, shakespeare or text:PATH")
        }
    }

    public var description: String {
        if let name = DataSource.named.first(where: { $0.value == self })?.key { return name }
        switch self {
        case let .idx(prefix): return "idx:\(prefix)"
        case let .npz(path): return "npz:\(path)"
        case let .text(path): return "text:\(path)"
        case .shakespeare: return "shakespeare"
        }
    }

    /// The text of a text source.
    public func corpus() throws -> TextCorpus {
        switch self {
        case let .text(path): return try TextCorpus.load(path: path)
        case .shakespeare: return try TextCorpus.shakespeare()
        default: throw DatasetError(description, "is an image data set, not text")
        }
    }

    /// Loads both splits; labels must be integers in 0..<classes, counts must agree, and neither split is empty.
    /// A text is cut into windows of `context` bytes, a language model's context; images ignore it.
    public func load(context: Int? = nil) throws -> DataSplit {
        if isText {
            guard let context else {
                throw DatasetError(description, "is text: it feeds byte-level language models (gpt:), whose context cuts it into windows")
            }
            return try corpus().split(context: context)
        }
        let split = try loadSplits()
        for (part, images) in [("training", split.train), ("test", split.test)] where images.count == 0 {
            throw DatasetError(description, "the \(part) split holds no images: there is nothing to \(part == "test" ? "measure" : "learn") on")
        }
        return split
    }

    private func loadSplits() throws -> DataSplit {
        switch self {
        case let .idx(prefix):
            var base = prefix
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory), isDirectory.boolValue, !prefix.hasSuffix("/") {
                base += "/"
            }
            if self == DataSource.named["fashion-mnist"], !FileManager.default.fileExists(atPath: prefix) {
                throw DatasetError(prefix, "Fashion-MNIST is not installed: run `apt-get install dataset-fashion-mnist` (ops/setup does)")
            }
            return DataSplit(name: description,
                             train: try DataSource.loadIDX(base + "train-images-idx3-ubyte", base + "train-labels-idx1-ubyte"),
                             test: try DataSource.loadIDX(base + "t10k-images-idx3-ubyte", base + "t10k-labels-idx1-ubyte"))
        case let .npz(path):
            let archive = try ZipArchive(try readMaybeGzipped(path), source: path)
            func array(_ key: String) throws -> NPYArray {
                guard let bytes = try archive.contents(of: key + ".npy") else {
                    let present = archive.entries.map(\.name).joined(separator: ", ")
                    throw DatasetError(path, "no '\(key)' array (the archive holds: \(present)); expected x_train, y_train, x_test, y_test")
                }
                return try NPYArray.decode(bytes, source: "\(path) [\(key)]")
            }
            return DataSplit(name: description,
                             train: try DataSource.assemble(array("x_train"), array("y_train"), source: "\(path) [x_train/y_train]"),
                             test: try DataSource.assemble(array("x_test"), array("y_test"), source: "\(path) [x_test/y_test]"))
        case .text, .shakespeare:
            preconditionFailure("text is cut into windows by load(context:)")
        }
    }

    /// Prefers the gzipped file when both exist; names the plain path in errors when neither does.
    private static func resolve(_ path: String) -> String {
        FileManager.default.fileExists(atPath: path + ".gz") ? path + ".gz" : path
    }

    private static func loadIDX(_ imagesPath: String, _ labelsPath: String) throws -> LabeledImages {
        let imagesFile = resolve(imagesPath), labelsFile = resolve(labelsPath)
        let images = try IDXArray.read(imagesFile)
        let labels = try IDXArray.read(labelsFile)
        guard images.shape.count >= 2 else {
            throw DatasetError(imagesFile, "images need rank 3 (n, h, w) or 4, got shape \(images.shape)")
        }
        guard let values = labels.integers(), labels.shape.count == 1 else {
            throw DatasetError(labelsFile, "labels must be a rank-1 integer array, got \(labels.type) \(labels.shape)")
        }
        guard images.shape[0] == values.count else {
            throw DatasetError(imagesFile, "\(images.shape[0]) images but \(labelsFile) has \(values.count) labels")
        }
        return try build(pixels: images.floats(scaleBytes: true), shape: images.shape, channelsLast: false,
                         labels: values, source: labelsFile)
    }

    private static func assemble(_ x: NPYArray, _ y: NPYArray, source: String) throws -> LabeledImages {
        guard x.shape.count >= 2 && x.shape.count <= 4 else {
            throw DatasetError(source, "images need shape (n, features), (n, h, w) or (n, h, w, c) / (n, c, h, w), got \(x.shape)")
        }
        guard let labels = y.integers(), y.shape.count == 1 else {
            throw DatasetError(source, "labels must be a rank-1 integer array, got \(y.descr) \(y.shape)")
        }
        guard x.shape[0] == labels.count else {
            throw DatasetError(source, "\(x.shape[0]) images but \(labels.count) labels")
        }
        // Keras stores (n, h, w, c); a small last axis after a larger one marks channels-last.
        let channelsLast = x.shape.count == 4 && x.shape[3] <= 4 && x.shape[1] > 4
        return try build(pixels: x.floats(scaleBytes: true), shape: x.shape, channelsLast: channelsLast,
                         labels: labels, source: source)
    }

    private static func build(pixels: [Float], shape: [Int], channelsLast: Bool, labels: [Int64], source: String) throws -> LabeledImages {
        if let bad = labels.first(where: { $0 < 0 || $0 > 65_535 }) {
            throw DatasetError(source, "label \(bad) is out of range: labels must be class indices 0, 1, 2, ...")
        }
        let n = shape[0]
        var sample: [Int]
        var values = pixels
        switch shape.count {
        case 2: sample = [shape[1]]
        case 3: sample = [1, shape[1], shape[2]]
        default:
            if channelsLast {
                let (h, w, c) = (shape[1], shape[2], shape[3])
                values = [Float](repeating: 0, count: pixels.count)
                for i in 0..<n { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                    values[((i * c + ch) * h + y) * w + x] = pixels[((i * h + y) * w + x) * c + ch]
                } } } }
                sample = [c, h, w]
            } else {
                sample = Array(shape.dropFirst())
            }
        }
        return LabeledImages(images: Tensor(shape: [n] + sample, scalars: values), labels: labels.map { Int32($0) })
    }
}
