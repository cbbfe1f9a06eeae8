import Foundation
import Testing
import TestSupport
@testable import SafeTensors

@Suite struct SafeTensorsTests {
    let sample = SafeTensorsFile(
        metadata: ["distillery.spec": "mlp:2-2", "note": "ünïcode ok"],
        tensors: [
            TensorEntry(name: "a.weight", shape: [2, 3], floats: [1, -2, 3.5, 0, 1e-30, -0]),
            TensorEntry(name: "b", dtype: .i8, shape: [3], bytes: [0xFF, 0x00, 0x7F]),
            TensorEntry(name: "empty", shape: [0, 4], floats: []),
        ])

    @Test func roundTripAndLayout() throws {
        let bytes = sample.encoded()
        let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(headerLength % 8 == 0)
        #expect(bytes.count == 8 + headerLength + 24 + 3)
        let decoded = try SafeTensorsFile.decode(bytes, source: "memory")
        #expect(decoded == sample)
        #expect(decoded["a.weight"]?.floats() == [1, -2, 3.5, 0, 1e-30, -0])
    }

    /// Each corruption must be reported with a reason, never trap or half-load.
    @Test func corruptFilesAreReported() throws {
        let good = sample.encoded()
        let headerEnd = 8 + good.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = String(decoding: good[8..<headerEnd], as: UTF8.self)
        func withHeader(_ text: String) -> [UInt8] {
            var json = Array(text.utf8)
            while json.count % 8 != 0 { json.append(32) }
            return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + Array(good[headerEnd...])
        }
        let cases: [([UInt8], String)] = [
            (Array(good.prefix(5)), "truncated"),
            (Array(good.dropLast(2)), "data_offsets must be"),
            (good + [0], "truncated or padded"),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + good.dropFirst(8), "exceeds"),
            (withHeader(header.replacingOccurrences(of: "\"F32\"", with: "\"F99\"")), "unknown dtype"),
            (withHeader(header.replacingOccurrences(of: "[2,3]", with: "[3,3]")), "does not fill"),
            (withHeader(header.replacingOccurrences(of: "[0,24]", with: "[0,20]")), "does not fill"),
            (withHeader("[1,2]"), "not a JSON object"),
            (withHeader("{\"a\": 3"), "not valid JSON"),
            (withHeader(header.replacingOccurrences(of: "\"note\":\"ünïcode ok\"", with: "\"note\":7")), "__metadata__"),
        ]
        for (index, (bytes, reason)) in cases.enumerated() {
            #expect(throws: SafeTensorsError.self, "case \(index)") { try SafeTensorsFile.decode(bytes, source: "case\(index)") }
            do {
                _ = try SafeTensorsFile.decode(bytes, source: "case\(index)")
            } catch let error as SafeTensorsError {
                #expect(error.problem.contains(reason), "case \(index): \(error)")
                #expect(error.source == "case\(index)")
            }
        }
    }

    @Test func randomMutationsNeverTrap() {
        let good = sample.encoded()
        var state: UInt64 = 0x1234
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33)
        }
        var accepted = 0
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0..<(1 + next() % 4) {
                switch next() % 3 {
                case 0: bytes[next() % bytes.count] = UInt8(next() & 0xFF)
                case 1: bytes = Array(bytes.prefix(next() % bytes.count))
                default: bytes.insert(UInt8(next() & 0xFF), at: next() % max(bytes.count, 1))
                }
                if bytes.isEmpty { break }
            }
            if (try? SafeTensorsFile.decode(bytes, source: "fuzz")) != nil { accepted += 1 }
        }
        // Flipping bytes inside tensor data yields valid files; most other mutations must be caught.
        #expect(accepted < 3000)
    }

    @Test func writesAtomicallyAndReportsMissingFiles() throws {
        let dir = try TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("t.safetensors")
        try sample.write(to: url)
        try SafeTensorsFile(tensors: [TensorEntry(name: "x", shape: [1], floats: [2])]).write(to: url)
        #expect(try SafeTensorsFile.read(url)["x"]?.floats() == [2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["t.safetensors"])
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.read(dir.appendingPathComponent("absent.safetensors")) }
        #expect(throws: SafeTensorsError.self) { try sample.write(to: URL(fileURLWithPath: "/nonexistent-dir/x.safetensors")) }
    }

    /// The real `safetensors` package reads what we write, and we read what it writes.
    @Test func interoperatesWithPythonSafetensors() throws {
        let dir = try TestSupport.temporaryDirectory()
        let ours = dir.appendingPathComponent("ours.safetensors"), theirs = dir.appendingPathComponent("theirs.safetensors")
        try sample.write(to: ours)
        let script = """
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import save_file
        with safe_open("\(ours.path)", framework="np") as f:
            assert f.metadata()["note"] == "ünïcode ok", f.metadata()
            a = f.get_tensor("a.weight"); b = f.get_tensor("b")
            assert a.dtype == np.float32 and a.shape == (2, 3), a
            assert a.tolist() == [[1, -2, 3.5], [0, np.float32(1e-30), 0]], a.tolist()
            assert b.dtype == np.int8 and b.tolist() == [-1, 0, 127]
            assert f.get_tensor("empty").shape == (0, 4)
        save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "i": np.array([7, -8], dtype=np.int64)},
                  "\(theirs.path)", metadata={"k": "v"})
        print("ok")
        """
        guard let result = try TestSupport.python(script, needs: ["numpy", "safetensors"]) else { return }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok"))
        let file = try SafeTensorsFile.read(theirs)
        #expect(file.metadata == ["k": "v"])
        #expect(file["w"]?.floats() == [0, 0.25, 0.5, 0.75, 1, 1.25])
        #expect(file["w"]?.shape == [2, 3])
        #expect(file["i"]?.dtype == .i64)
    }
}
