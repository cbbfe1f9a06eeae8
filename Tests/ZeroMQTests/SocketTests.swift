import Foundation
import Testing
@testable import ZeroMQ

@Suite struct SocketTests {
    let context = Context()

    func pair(_ a: SocketType, _ b: SocketType) throws -> (server: Socket, client: Socket) {
        let server = try Socket(context, a)
        try server.set(.receiveTimeout(2000))
        try server.bind("tcp://127.0.0.1:*")
        let client = try Socket(context, b)
        try client.set(.receiveTimeout(2000))
        try client.connect(server.lastEndpoint)
        return (server, client)
    }

    @Test func multipartMessagesCrossTCPIntactIncludingLargeZeroCopyFrames() throws {
        let (pull, push) = try pair(.pull, .push)
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
        try push.send([.text("header"), .bytes(big), .bytes([])])
        let frames = try #require(try pull.receive())
        #expect(frames.count == 3)
        #expect(frames[0].text == "header")
        #expect(frames[1].bytes == big)
        #expect(frames[2].count == 0)
    }

    @Test func routerRepliesReachTheDealerThatAsked() throws {
        let (router, dealer) = try pair(.router, .dealer)
        try dealer.set(.routingID("worker-1"))
        try dealer.disconnect(router.lastEndpoint)
        try dealer.connect(router.lastEndpoint)
        try dealer.send([.text("hello")])
        let request = try #require(try router.receive())
        #expect(request.map(\.text) == ["worker-1", "hello"])
        try router.send([.bytes(request[0].bytes), .text("welcome")])
        #expect(try dealer.receive()?.map(\.text) == ["welcome"])
    }

    @Test func receivingNothingTimesOutInsteadOfBlocking() throws {
        let (pull, _) = try pair(.pull, .push)
        try pull.set(.receiveTimeout(50))
        #expect(try pull.receive() == nil)
        #expect(try pull.receive(dontWait: true) == nil)
    }

    @Test func oversizedMessagesAreRefusedAtTheSocket() throws {
        let pull = try Socket(context, .pull)
        try pull.set(.maxMessageSize(1000))
        try pull.set(.receiveTimeout(300))
        try pull.bind("tcp://127.0.0.1:*")
        let push = try Socket(context, .push)
        try push.connect(pull.lastEndpoint)
        try push.send([.bytes([UInt8](repeating: 1, count: 2000))])
        #expect(try pull.receive() == nil)
    }

    @Test func monitorSeesTheConnection() throws {
        let pull = try Socket(context, .pull)
        let monitor = try Monitor(pull, context: context, name: "pull-\(UUID().uuidString)")
        try pull.bind("tcp://127.0.0.1:*")
        let push = try Socket(context, .push)
        try push.connect(pull.lastEndpoint)
        #expect(try monitor.waitFor([.accepted], timeout: 2000) != nil)
        #expect(try monitor.waitFor([.handshakeSucceeded], timeout: 2000) != nil)
        push.close()
        #expect(try monitor.waitFor([.disconnected], timeout: 2000) != nil)
    }

    @Test func badEndpointsAreErrorsNotCrashes() throws {
        let s = try Socket(context, .push)
        #expect(throws: ZMQError.self) { try s.bind("nonsense://x") }
        #expect(throws: ZMQError.self) { try s.connect("tcp://") }
    }
}

@Suite struct AsyncSocketTests {
    @Test func thousandsOfMessagesArriveInOrder() async throws {
        let context = Context()
        let pull = try AsyncSocket(context, .pull) { try $0.bind("tcp://127.0.0.1:*") }
        let push = try AsyncSocket(context, .push) { try $0.connect(pull.lastEndpoint) }
        let count = 5000
        for i in 0..<count { push.send([.text("\(i)"), .bytes([UInt8](repeating: UInt8(i & 0xFF), count: 256))]) }
        var received = 0
        for await message in pull.messages {
            #expect(message[0].text == "\(received)")
            #expect(message[1].bytes.allSatisfy { $0 == UInt8(received & 0xFF) })
            received += 1
            if received == count { break }
        }
        #expect(received == count)
        push.close()
        pull.close()
    }

    /// Closing with messages queued to an absent peer returns promptly and ends the stream.
    @Test func closeWithQueuedMessagesDoesNotHang() async throws {
        let context = Context()
        let push = try AsyncSocket(context, .push) { try $0.connect("tcp://127.0.0.1:9") }
        for _ in 0..<1000 { push.send([.bytes([UInt8](repeating: 0, count: 4096))]) }
        let started = Date()
        push.close()
        push.close()
        #expect(Date().timeIntervalSince(started) < 5)
        var any = false
        for await _ in push.messages { any = true }
        #expect(!any)
    }

    @Test func routerAnswersManyDealersConcurrently() async throws {
        let context = Context()
        let router = try AsyncSocket(context, .router) { try $0.bind("tcp://127.0.0.1:*") }
        let dealers = try (0..<8).map { i in
            try AsyncSocket(context, .dealer) { s in
                try s.set(.routingID("d\(i)"))
                try s.connect(router.lastEndpoint)
            }
        }
        let server = Task {
            var answered = 0
            for await request in router.messages {
                router.send([.bytes(request[0].bytes), .text("re:" + request[1].text)])
                answered += 1
                if answered == 8 * 50 { break }
            }
            return answered
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (i, dealer) in dealers.enumerated() {
                group.addTask {
                    for j in 0..<50 { dealer.send([.text("d\(i)-\(j)")]) }
                    var replies = 0
                    for await reply in dealer.messages {
                        #expect(reply[0].text == "re:d\(i)-\(replies)")
                        replies += 1
                        if replies == 50 { break }
                    }
                    return replies
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 400)
        }
        #expect(await server.value == 400)
        for d in dealers { d.close() }
        router.close()
    }
}
