import CDistilleryProto
import Testing
@testable import WireProtocol

@Suite struct EnvelopeTests {
    static let allKinds: [MessageKind] = [
        .hello(Hello(role: .teacher, models: [ModelHash(member: "t1", sha256: "ab12")],
                     dataEndpoint: "tcp://127.0.0.1:5601", threads: 2)),
        .hello(Hello(role: .student)),
        .welcome(Welcome(workerID: "w-7", leaseMilliseconds: 3000, heartbeatIntervalMilliseconds: 500, credits: 4)),
        .welcome(Welcome(workerID: "s-1", leaseMilliseconds: 3000, heartbeatIntervalMilliseconds: 500, credits: 0,
                         jobYAML: "name: j\nseed: 1\n", jobDirectory: "/srv/jobs", replica: 1,
                         peers: ["tcp://10.0.0.1:6001", "tcp://10.0.0.2:6001"], assignmentKey: Array(0..<32),
                         peerKeys: ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"])),
        .heartbeat(Heartbeat(leaseMilliseconds: 3000, queueDepth: 2, inFlight: 1)),
        .workRequest(credits: 3),
        .workAssignment(WorkAssignment(workID: 1 << 40, epoch: 3, shard: 17, ranges: [ShardRange(0, 512), ShardRange(1024, 1100)],
                                       member: "teacher-2", augmentationSeed: .max, temperature: 4, destinations: ["tcp://s1:1", "tcp://s2:2"],
                                       token: [0, 255, 7], destinationKeys: ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"])),
        .workDone(workID: 9, samples: 512),
        .softTargets(SoftTargets(workID: 9, epoch: 3, shard: 17, member: "teacher-2", temperature: 4, probabilities: true,
                                 ranges: [ShardRange(0, 512)], token: Array(repeating: 9, count: 32))),
        .gradients(step: 100, replica: 1, samples: 128),
        .parameters(step: 100, spec: "mlp:784-128-10"),
        .checkpoint(CheckpointAnnouncement(step: 5, epoch: 1, path: "/tmp/ck.safetensors", sha256: "ff")),
        .checkpoint(CheckpointAnnouncement(step: 9, epoch: 2, path: "/tmp/final.safetensors", isFinal: true)),
        .progress(Progress(epoch: 2, samplesDone: 100, samplesTotal: 60000, loss: 0.5, accuracy: 0.9, samplesPerSecond: 1e4)),
        .error(code: .checksum, message: "tensor 'x': CRC mismatch — ünïcode"),
        .goodbye(Goodbye(reason: "SIGTERM", returnedWorkIDs: [4, 5])),
        .goodbye(Goodbye(reason: "the coordinator stopped", ending: .suspended)),
        .goodbye(Goodbye(reason: "job complete", ending: .complete)),
        .statusRequest,
        .statusReply(json: "{\"workers\": []}"),
    ]

    @Test(arguments: allKinds)
    func everyKindRoundTrips(kind: MessageKind) throws {
        let tensor = WireTensor(name: "logits", values: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let envelope = Envelope(jobID: "job-1", sender: "teacher-0", kind: kind, tensors: [tensor.descriptor])
        let bytes = EnvelopeEncoder.encode(envelope)
        #expect(try EnvelopeDecoder.decode(bytes) == envelope)
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        // The check value of CRC-32C over "123456789" (RFC 3720, appendix B.4).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        // The fast path and a bytewise loop agree at every length and alignment.
        let data = (0..<100_100).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
        // Short tails, the 3 x 256-byte and the 3 x 8 KiB interleaved paths, the carry-less folding from 512 bytes
        // (256-byte steps, then 64- and 16-byte ones, then a tail), and their seams.
        let folding = [511, 512, 513, 527, 528, 575, 576, 591, 767, 768, 769, 1023, 1024, 1039, 4097]
        for length in Array(0..<40) + folding + [24_575, 24_576, 24_577, 50_000, 100_003] {
            var bytewise: UInt32 = 0xFFFF_FFFF
            for b in data[3..<(3 + length)] {
                bytewise ^= UInt32(b)
                for _ in 0..<8 { bytewise = bytewise & 1 == 1 ? (bytewise >> 1) ^ 0x82F6_3B78 : bytewise >> 1 }
            }
            #expect(CRC32C.checksum(Array(data[3..<(3 + length)])) == ~bytewise)
        }
    }
}
