import Foundation
import Testing
@testable import WireProtocol

/// Random and mutated valid envelopes through the decoder: every input must decode or throw a WireError,
/// never trap. `DISTILLERY_FUZZ_INPUTS=50000000 swift test -c release --filter FuzzTests` runs longer.
@Suite struct FuzzTests {
    static let inputs = Int(ProcessInfo.processInfo.environment["DISTILLERY_FUZZ_INPUTS"] ?? "") ?? 1_000_000

    @Test func decoderSurvivesRandomAndMutatedInputs() {
        let corpus = EnvelopeTests.allKinds.map { kind in
            EnvelopeEncoder.encode(Envelope(jobID: "job", sender: "fuzz", kind: kind,
                                            tensors: [WireTensor(name: "t", values: [1, 2, 3, 4], shape: [2, 2]).descriptor]))
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(truncatingIfNeeded: state >> 1)
        }
        var accepted = 0, rejected = 0
        var bytes = [UInt8]()
        bytes.reserveCapacity(512)
        for i in 0..<FuzzTests.inputs {
            if i % 8 == 0 {
                bytes = (0..<(next() % 96)).map { _ in UInt8(truncatingIfNeeded: next()) }
            } else {
                bytes = corpus[next() % corpus.count]
                for _ in 0..<(1 + next() % 4) {
                    guard !bytes.isEmpty else { break }
                    switch next() % 5 {
                    case 0: bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next())
                    case 1: bytes[next() % bytes.count] ^= UInt8(1 << (next() % 8))
                    case 2: bytes.removeSubrange((next() % bytes.count)...)
                    case 3: bytes.insert(UInt8(truncatingIfNeeded: next()), at: next() % bytes.count)
                    default:
                        let start = next() % bytes.count
                        bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + 1 + next() % 8)], at: next() % bytes.count)
                    }
                }
            }
            do {
                _ = try EnvelopeDecoder.decode(bytes)
                accepted += 1
            } catch is WireError {
                rejected += 1
            } catch {
                Issue.record("non-wire error \(error) for \(bytes)")
            }
        }
        #expect(accepted + rejected == FuzzTests.inputs)
        #expect(rejected > FuzzTests.inputs / 2)
    }
}
