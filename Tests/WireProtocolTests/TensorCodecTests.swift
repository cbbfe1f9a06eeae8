import Testing
@testable import WireProtocol

@Suite struct TensorCodecTests {
    let values: [Float] = (0..<600).map { Float(sin(Double($0) * 0.37)) * Float($0 % 7 + 1) }

    func roundTrip(_ format: WireTensor.Format, shape: [Int], _ v: [Float]) throws -> [Float] {
        let t = WireTensor(name: "x", values: v, shape: shape, format: format)
        // Decode from a misaligned copy: received frames are often not 4-byte aligned.
        let shifted = [UInt8(0)] + t.frame
        return try shifted.withUnsafeBytes { try WireTensor.decode(t.descriptor, frame: UnsafeRawBufferPointer(rebasing: $0[1...])) }
    }

    @Test func float32IsExactFloat16AndInt8StayWithinTheirStep() throws {
        #expect(try roundTrip(.float32, shape: [600], values) == values)
        let halves = try roundTrip(.float16, shape: [600], values)
        #expect(zip(halves, values).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-11 + 1e-7 })
        let t = WireTensor(name: "x", values: values, shape: [600], format: .int8)
        let scale = try #require(t.descriptor.scale)
        #expect(abs(scale - values.map(abs).max()! / 127) < 1e-6)
        let ints = try roundTrip(.int8, shape: [600], values)
        #expect(zip(ints, values).allSatisfy { abs($0 - $1) <= scale / 2 + 1e-6 })
    }

    static func probabilities(rows: Int, classes: Int) -> [Float] {
        var out: [Float] = []
        for r in 0..<rows {
            let logits = (0..<classes).map { Float(sin(Double(r * classes + $0))) * 4 }
            let top = logits.max()!
            let e = logits.map { expf($0 - top) }
            let sum = e.reduce(0, +)
            out += e.map { $0 / sum }
        }
        return out
    }

    /// Top-k keeps the k largest probabilities exactly (float32), 0 for the rest, and their exact mass as the tail
    /// column; with 256 classes an index is one byte, with 300 two.
    @Test(arguments: [(1, 10), (3, 10), (10, 10), (8, 256), (32, 300)])
    func topKKeepsTheLargestAndTheTailsExactMass(k: Int, classes: Int) throws {
        let rows = 50
        let probabilities = Self.probabilities(rows: rows, classes: classes)
        let decoded = try roundTrip(.topK(k, .float32), shape: [rows, classes], probabilities)
        #expect(decoded.count == rows * (classes + 1))
        for r in 0..<rows {
            let original = Array(probabilities[(r * classes)..<((r + 1) * classes)])
            let got = Array(decoded[(r * (classes + 1))..<((r + 1) * (classes + 1))])
            let kept = Set(original.indices.sorted { original[$0] > original[$1] || (original[$0] == original[$1] && $0 < $1) }.prefix(k))
            for c in 0..<classes { #expect(got[c] == (kept.contains(c) ? original[c] : 0)) }
            let rest = original.indices.filter { !kept.contains($0) }.reduce(0.0) { $0 + Double(original[$1]) }
            #expect(abs(Double(got[classes]) - rest) < 1e-6, "row \(r): tail \(got[classes]), dropped mass \(rest)")
        }
        let size = WireTensor(name: "x", values: probabilities, shape: [rows, classes], format: .topK(k, .float16)).frame.count
        let indexBytes = classes <= 256 ? 1 : 2
        #expect(size == rows * (k * indexBytes + (k + 1) * 2))
    }

    @Test func corruptTopKFramesAreRejected() {
        let t = WireTensor(name: "x", values: [0.7, 0.2, 0.1], shape: [1, 3], format: .topK(2, .float32))
        func decode(_ frame: [UInt8]) throws -> [Float] {
            try frame.withUnsafeBytes { try TopKCodec.decode($0, rows: 1, classes: 3, k: 2, valueType: .float32) }
        }
        let good = try? decode(t.frame)
        #expect(good?.prefix(3) == [0.7, 0.2, 0] && abs((good?.last ?? 0) - 0.1) < 1e-6, "\(good ?? [])")
        var frame = t.frame
        frame[0] = 9  // class index 9 of 3
        #expect(throws: WireError.self) { try decode(frame) }
        frame = t.frame
        frame[1] = frame[0]  // the same class twice
        #expect(throws: WireError.self) { try decode(frame) }
        frame = t.frame
        // A negative tail (float32 -0.5 little-endian in the last four bytes).
        frame.replaceSubrange((frame.count - 4)..., with: [0, 0, 0, 0xBF])
        #expect(throws: WireError.self) { try decode(frame) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
