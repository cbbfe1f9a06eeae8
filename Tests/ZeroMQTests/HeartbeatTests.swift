import Foundation
import Testing
import TestSupport
@testable import ZeroMQ

/// ZMTP heartbeats notice a peer that stops answering while its TCP connection stays open, which
/// nothing else does: a relay in the middle forwards bytes, then freezes.
@Suite(.serialized) struct HeartbeatTests {
    static let relayScript = """
    import socket, sys, threading, time
    target = int(sys.argv[1])
    frozen = threading.Event()
    listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    def pump(a, b):
        while True:
            data = a.recv(65536)
            if not data: return
            while frozen.is_set(): time.sleep(0.05)
            b.sendall(data)
    def serve():
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", target))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    for line in sys.stdin:
        if line.strip() == "freeze": frozen.set()
    """

    /// Connects a DEALER through a relay, freezes the relay, and reports whether the monitor saw the
    /// connection drop within `window` milliseconds.
    func dropNoticed(heartbeats: Bool, window: Int32) throws -> Bool? {
        guard let python = TestSupport.which("python3") else { return nil }
        let context = Context()
        let router = try Socket(context, .router)
        try router.set(.receiveTimeout(3000))
        try router.bind("tcp://127.0.0.1:*")
        let port = router.lastEndpoint.split(separator: ":").last!
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: python)
        relay.arguments = ["-c", HeartbeatTests.relayScript, String(port)]
        let input = Pipe(), output = Pipe()
        relay.standardInput = input
        relay.standardOutput = output
        try relay.run()
        // Closing its stdin ends the relay's main loop, and with it the relay.
        defer { try? input.fileHandleForWriting.close(); relay.waitUntilExit() }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw TestSupportError("the relay exited before printing its port") }
            line.append(chunk)
        }
        let relayPort = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)

        let dealer = try Socket(context, .dealer)
        if heartbeats { try dealer.set(.heartbeat(interval: 200, timeout: 600, ttl: 2000)) }
        let monitor = try Monitor(dealer, context: context, name: "hb-\(UUID().uuidString)")
        try dealer.connect("tcp://127.0.0.1:\(relayPort)")
        try dealer.send([.text("hello")])
        #expect(try router.receive()?.last?.text == "hello")
        input.fileHandleForWriting.write(Data("freeze\n".utf8))
        return try monitor.waitFor([.disconnected], timeout: window) != nil
    }

    @Test func heartbeatsDetectASilentPeer() throws {
        guard let noticed = try dropNoticed(heartbeats: true, window: 3000) else { return }
        #expect(noticed, "a frozen peer went unnoticed with heartbeats on")
    }

    @Test func withoutHeartbeatsTheSamePeerGoesUnnoticed() throws {
        guard let noticed = try dropNoticed(heartbeats: false, window: 1500) else { return }
        #expect(!noticed)
    }
}
