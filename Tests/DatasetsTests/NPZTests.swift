import Foundation
import Testing
import TestSupport
@testable import Datasets

@Suite struct NPZTests {
    /// numpy writes the archives, as users' files come from it.
    private func makeArchive(_ body: String, in dir: URL) throws -> URL? {
        let url = dir.appendingPathComponent("data.npz")
        let script = """
        import numpy as np
        rng = np.random.default_rng(0)
        path = "\(url.path)"
        \(body)
        print("ok")
        """
        guard let result = try TestSupport.python(script, needs: ["numpy"]) else { return nil }
        guard result.status == 0 else { throw TestSupportError(result.stderr) }
        return url
    }

    @Test(arguments: ["savez", "savez_compressed"])
    func readsKerasLayoutWithUint8Images(writer: String) throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let url = try makeArchive("""
        x = (np.arange(6 * 5 * 4) % 256).astype(np.uint8).reshape(6, 5, 4)
        np.\(writer)(path, x_train=x, y_train=np.array([0, 1, 2, 3, 4, 0], dtype=np.int64),
                 x_test=x[:2], y_test=np.array([1, 2], dtype=np.uint8))
        """, in: dir) else { return }
        let split = try DataSource("npz:\(url.path)").load()
        #expect(split.train.count == 6 && split.test.count == 2 && split.classes == 5)
        #expect(split.train.sampleShape == [1, 5, 4])
        #expect(split.train.images.scalars[21] == Float(21) / 255)
        #expect(split.test.labels == [1, 2])
    }

    @Test func readsChannelsLastFloatImagesAsNCHW() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let url = try makeArchive("""
        x = rng.random((3, 6, 5, 3), dtype=np.float32)
        np.savez(path, x_train=x, y_train=np.array([0, 1, 2], dtype=np.int32), x_test=x, y_test=np.array([2, 1, 0], dtype=np.int32))
        np.save(path + ".expected.npy", np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        """, in: dir) else { return }
        let split = try DataSource("npz:\(url.path)").load()
        #expect(split.train.sampleShape == [3, 6, 5])
        let expected = try NPYArray.decode([UInt8](Data(contentsOf: URL(fileURLWithPath: url.path + ".expected.npy"))), source: "expected")
        #expect(split.train.images.scalars == expected.floats(scaleBytes: false))
    }

    @Test func problemsNameTheArchiveAndArray() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let url = try makeArchive("""
        np.savez(path, x_train=np.zeros((4, 2, 2), np.float32), y_train=np.zeros(3, np.int64),
                 x_test=np.zeros((1, 2, 2), np.float32), y_test=np.zeros(1, np.float32))
        np.savez(path + ".missing.npz", x_train=np.zeros((1, 2, 2), np.float32))
        """, in: dir) else { return }
        #expect(throws: DatasetError.self) { try DataSource("npz:\(url.path)").load() }
        do { _ = try DataSource("npz:\(url.path)").load() } catch let error as DatasetError {
            #expect(error.description.contains("4 images but 3 labels") && error.description.contains(url.path), "\(error)")
        }
        do { _ = try DataSource("npz:\(url.path).missing.npz").load() } catch let error as DatasetError {
            #expect(error.description.contains("no 'y_train' array"), "\(error)")
        }
        let bytes = try [UInt8](Data(contentsOf: url))
        let truncated = dir.appendingPathComponent("truncated.npz")
        try Data(bytes.prefix(bytes.count - 40)).write(to: truncated)
        #expect(throws: DatasetError.self) { try DataSource("npz:\(truncated.path)").load() }
    }

    @Test func npyHeadersAreValidated() {
        func header(_ dict: String) -> [UInt8] {
            var text = Array(dict.utf8)
            while (10 + text.count + 1) % 64 != 0 { text.append(32) }
            text.append(10)
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 255), UInt8(text.count >> 8)] + text
        }
        let good = header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }") + [UInt8](repeating: 0, count: 8)
        #expect((try? NPYArray.decode(good, source: "x"))?.shape == [2, 1])
        let bad: [([UInt8], String)] = [
            (header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }") + [UInt8](repeating: 0, count: 8), "unsupported dtype"),
            (header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }") + [UInt8](repeating: 0, count: 8), "Fortran"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") + [UInt8](repeating: 0, count: 8), "truncated"),
            (Array("not numpy at all".utf8), "wrong magic"),
        ]
        for (bytes, reason) in bad {
            do { _ = try NPYArray.decode(bytes, source: "x"); Issue.record("accepted: \(reason)") } catch let e as DatasetError {
                #expect(e.problem.contains(reason), "\(e)")
            } catch { Issue.record("\(error)") }
        }
    }
}
