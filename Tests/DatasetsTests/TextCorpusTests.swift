import Compute
import Foundation
import Testing
import TestSupport
@testable import Datasets

/// Byte-level text: how a file or folder splits, how windows and their labels line up, what is refused.
@Suite struct TextCorpusTests {
    func folder(_ files: [String: [UInt8]]) throws -> URL {
        let dir = try TestSupport.temporaryDirectory("text")
        for (name, bytes) in files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    @Test func aFolderHoldsOutWholeFilesAndWindowsPredictTheNextByte() throws {
        var files: [String: [UInt8]] = [:]
        for i in 0..<12 { files[String(format: "work%02d.txt", i)] = Array("work \(i): to be or not to be\n".utf8) }
        files[".hidden"] = Array("ignored".utf8)
        let dir = try folder(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try TextCorpus.load(path: dir.path)
        #expect(corpus.heldOut.map(\.name) == ["work09"])  // every tenth file
        #expect(corpus.train.count == 11 && !corpus.train.map(\.name).contains(".hidden"))
        let split = try DataSource("text:\(dir.path)").load(context: 8)
        let first = Array("work 0: to be or not to be\n".utf8)
        // Non-overlapping windows inside each work: ids are 8 bytes, labels the same shifted by one.
        #expect(split.train.sampleShape == [8] && split.train.labelsPerSample == 8)
        #expect(split.train.images.indices.prefix(8).map { UInt8($0) } == Array(first[0..<8]))
        #expect(split.train.labels.prefix(8).map { UInt8($0) } == Array(first[1...8]))
        #expect(split.train.count == 11 * ((first.count - 1) / 8))
        // Batches gather windows with their labels; a prefix keeps both.
        let batch = split.train.batch([1, 0])
        #expect(batch.images.shape == [2, 8] && batch.images.indices.prefix(8).map { UInt8($0) } == Array(first[8..<16]))
        #expect(batch.labels.count == 16 && batch.labels[8..<16].map { UInt8($0) } == Array(first[1...8]))
        #expect(split.train.prefix(2).labels.count == 16)
    }

    @Test func aSingleFileHoldsOutItsLastTenthFromALineBreak() throws {
        let text = (0..<200).map { "line \($0) of the only work\n" }.joined()
        let dir = try folder(["only.txt": Array(text.utf8)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = try TextCorpus.load(path: dir.appendingPathComponent("only.txt").path)
        let held = corpus.heldOut[0].bytes
        #expect(corpus.trainBytes + corpus.heldOutBytes == text.utf8.count)
        #expect(abs(Double(held.count) / Double(text.utf8.count) - 0.1) < 0.02)
        #expect(corpus.train[0].bytes.last == UInt8(ascii: "\n") && String(decoding: held, as: UTF8.self).hasPrefix("line "))
    }

    @Test func badTextIsAClearErrorNamingTheFileAndPlace() throws {
        let dir = try folder(["a.txt": Array("fine text\n".utf8), "b.bin": [0x41, 0x42, 0x00, 0x43], "c.txt": [0x61, 0x62, 0xC3, 0x28]])
        defer { try? FileManager.default.removeItem(at: dir) }
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        let binary = message { try TextCorpus.load(path: dir.appendingPathComponent("b.bin").path) }
        #expect(binary.contains("b.bin") && binary.contains("byte 2 is NUL"), "\(binary)")
        let utf8 = message { try TextCorpus.load(path: dir.appendingPathComponent("c.txt").path) }
        #expect(utf8.contains("c.txt") && utf8.contains("invalid UTF-8 at byte 2"), "\(utf8)")
        #expect(message { try TextCorpus.load(path: dir.path + "/missing") }.contains("no such file or folder"))
        let empty = try folder([:])
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(message { try TextCorpus.load(path: empty.path) }.contains("holds no files"))
        let short = try folder(["one.txt": Array("tiny\n".utf8), "two.txt": Array("small\n".utf8)])
        defer { try? FileManager.default.removeItem(at: short) }
        let long = message { try DataSource("text:\(short.path)").load(context: 64) }
        #expect(long.contains("context of 64 bytes is longer than the text"), "\(long)")
        // Text without a context (an image model asked for it) says what text is for.
        #expect(message { try DataSource("text:\(short.path)").load() }.contains("byte-level language models"))
    }

    @Test func theShakespeareCorpusHoldsOutThreeWholePlays() throws {
        guard let dir = try TestSupport.shakespeare() else { return }
        let corpus = try TextCorpus.shakespeare(directory: dir)
        #expect(corpus.train.count == 34 && corpus.heldOut.map(\.name) == TextCorpus.shakespeareHeldOut)
        #expect(!corpus.train.map(\.name).contains("sonnets"))  // plays only
        #expect(corpus.trainBytes > 4_000_000 && corpus.heldOutBytes > 300_000, "\(corpus.trainBytes) \(corpus.heldOutBytes)")
        #expect(String(decoding: corpus.heldOut[1].bytes.prefix(7), as: UTF8.self) == "MACBETH")
    }
}
