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

    /// Top-k keeps the k largest probabilities exactly (float32) and spreads the rest evenly.
    @Test(arguments: [1, 3, 10])
    func topKErrorIsTheSpreadOfTheDroppedMass(k: Int) throws {
        let rows = 50, classes = 10
        var probabilities: [Float] = []
        for r in 0..<rows {
            let logits = (0..<classes).map { Float(sin(Double(r * classes + $0))) * 4 }
            let top = logits.max()!
            let e = logits.map { expf($0 - top) }
            let sum = e.reduce(0, +)
            probabilities += e.map { $0 / sum }
        }
        let decoded = try roundTrip(.topK(k, .float32), shape: [rows, classes], probabilities)
        var worstL1: Float = 0
        for r in 0..<rows {
            let original = Array(probabilities[(r * classes)..<((r + 1) * classes)])
            let got = Array(decoded[(r * classes)..<((r + 1) * classes)])
            #expect(abs(got.reduce(0, +) - 1) < 1e-5)
            let kept = original.indices.sorted { original[$0] > original[$1] }.prefix(k)
            for i in kept { #expect(got[i] == original[i]) }
            let dropped = 1 - kept.reduce(Float(0)) { $0 + original[$1] }
            let l1 = zip(got, original).reduce(Float(0)) { $0 + abs($1.0 - $1.1) }
            #expect(l1 <= 2 * dropped + 1e-5)
            worstL1 = max(worstL1, l1)
        }
        if k == classes { #expect(worstL1 < 1e-6) }
        let size = WireTensor(name: "x", values: probabilities, shape: [rows, classes], format: .topK(k, .float16)).frame.count
        #expect(size == rows * k * 6)
    }

    @Test func corruptTopKFramesAreRejected() {
        let t = WireTensor(name: "x", values: [0.7, 0.2, 0.1], shape: [1, 3], format: .topK(2, .float32))
        var frame = t.frame
        frame[0] = 9  // class index 9 of 3
        #expect(throws: WireError.self) {
            try frame.withUnsafeBytes { try TopKCodec.decode($0, rows: 1, classes: 3, k: 2, valueType: .float32) }
        }
        frame = t.frame
        frame[4] = frame[0]  // the same class twice
        #expect(throws: WireError.self) {
            try frame.withUnsafeBytes { try TopKCodec.decode($0, rows: 1, classes: 3, k: 2, valueType: .float32) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
