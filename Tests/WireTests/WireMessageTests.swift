import Foundation
import Testing
@testable import Wire

@Suite struct WireMessageTests {
    /// A student's view: soft targets arrive from a teacher over TCP as one envelope and one frame per member.
    @Test func softTargetsTravelEndToEnd() async throws {
        let context = Context()
        let student = try AsyncSocket(context, .pull) { try $0.bind("tcp://127.0.0.1:*") }
        let teacher = try AsyncSocket(context, .push) { try $0.connect(student.lastEndpoint) }
        let logits: [Float] = (0..<(64 * 10)).map { Float($0 % 13) - 6 }
        let message = WireMessage(
            Envelope(jobID: "job", sender: "teacher-0",
                     kind: .softTargets(SoftTargets(workID: 1, epoch: 0, shard: 2, member: "t0", temperature: 4,
                                                    probabilities: false, ranges: [ShardRange(128, 192)]))),
            tensors: [WireTensor(name: "t0", values: logits, shape: [64, 10]),
                      WireTensor(name: "t0.fp16", values: logits, shape: [64, 10], format: .float16)])
        teacher.send(message.frames())
        var iterator = student.messages.makeAsyncIterator()
        let frames = try #require(await iterator.next())
        let received = try ReceivedMessage.parse(frames)
        #expect(received.envelope == message.envelope)
        #expect(try received.tensor(0) == logits)
        #expect(try received.tensor(named: "t0.fp16") == logits.map { Float(Float16($0)) })
        teacher.close()
        student.close()
    }

    @Test func framesThatDisagreeWithTheEnvelopeAreRefused() throws {
        let context = Context()
        let pull = try Socket(context, .pull)
        try pull.set(.receiveTimeout(2000))
        try pull.bind("tcp://127.0.0.1:*")
        let push = try Socket(context, .push)
        try push.connect(pull.lastEndpoint)
        let good = WireMessage(Envelope(jobID: "j", sender: "s", kind: .gradients(step: 1, replica: 0, samples: 8)),
                               tensors: [WireTensor(name: "w", values: [1, 2, 3], shape: [3])])
        var outgoing = good.frames()
        outgoing.removeLast()
        try push.send(outgoing)
        #expect(throws: WireError.self) { try ReceivedMessage.parse(try #require(try pull.receive())) }
        var flipped = good.tensorFrames[0]
        flipped[0] ^= 1
        try push.send([.bytes(EnvelopeEncoder.encode(good.envelope)), .bytes(flipped)])
        do {
            _ = try ReceivedMessage.parse(try #require(try pull.receive()))
            Issue.record("a corrupted frame was accepted")
        } catch let error as WireError {
            #expect(error.code == .checksum)
            let reply = error.reply(jobID: "j", sender: "student")
            #expect(reply.envelope.kind == .error(code: .checksum, message: error.message))
        }
        try push.send([.bytes([0x08])])
        #expect(throws: WireError.self) { try ReceivedMessage.parse(try #require(try pull.receive())) }
        // The socket still works after refusals.
        try push.send(good.frames())
        #expect(try ReceivedMessage.parse(try #require(try pull.receive())).envelope == good.envelope)
    }

    @Test func routerRepliesCarryThePeer() throws {
        let context = Context()
        let router = try Socket(context, .router)
        try router.set(.receiveTimeout(2000))
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try Socket(context, .dealer)
        try dealer.set(.receiveTimeout(2000))
        try dealer.set(.routingID("teacher-9"))
        try dealer.connect(router.lastEndpoint)
        try dealer.send(WireMessage(Envelope(jobID: "j", sender: "teacher-9", kind: .workRequest(credits: 2))).frames())
        let request = try ReceivedMessage.parse(try #require(try router.receive()), fromRouter: true)
        #expect(request.peer == Array("teacher-9".utf8))
        #expect(request.envelope.kind == .workRequest(credits: 2))
        let welcome = WireMessage(Envelope(jobID: "j", sender: "coordinator",
                                           kind: .welcome(Welcome(workerID: "w1", leaseMilliseconds: 3000, heartbeatIntervalMilliseconds: 500, credits: 2))))
        try router.send(welcome.frames(to: request.peer))
        #expect(try ReceivedMessage.parse(try #require(try dealer.receive())).envelope == welcome.envelope)
    }
}
