import Foundation
import Testing
import TestSupport
@testable import ZeroMQ

/// CURVE with the ZAP allow-list: only listed keys deliver anything, and the receiver learns who sent a
/// message from the connection (ZAP user id), not from the message.
@Suite(.serialized) struct CurveTests {
    // Z85 digits include '#', so keys often hold one: the allow-list must not take it for a comment.
    let server = try! CurveKeyPair.generate()
    let alice = try! CurveKeyPair.generate()
    let mallory = try! CurveKeyPair.generate()

    func serverSocket(_ context: Context) throws -> Socket {
        let pull = try Socket(context, .pull)
        try pull.set(.curveServer(secretKey: server.secretKey))
        try pull.set(.zapDomain("distillery"))
        try pull.set(.receiveTimeout(700))
        try pull.bind("tcp://127.0.0.1:*")
        return pull
    }

    func client(_ context: Context, to endpoint: String, keys: CurveKeyPair?, serverKey: String) throws -> Socket {
        let push = try Socket(context, .push)
        if let keys { try push.set(.curveClient(serverKey: serverKey, publicKey: keys.publicKey, secretKey: keys.secretKey)) }
        try push.connect(endpoint)
        return push
    }

    @Test func onlyListedKeysDeliverAndTheUserIdComesFromZAP() throws {
        #expect(Context.hasCurve)
        let context = Context()
        let zap = try ZAPHandler(context: context, allowList: AllowList([(alice.publicKey, "alice")]))
        defer { zap.stop() }
        let pull = try serverSocket(context)

        let admitted = try client(context, to: pull.lastEndpoint, keys: alice, serverKey: server.publicKey)
        try admitted.send([.text("I am the coordinator")])
        let frames = try #require(try pull.receive())
        #expect(frames[0].text == "I am the coordinator")
        #expect(frames[0].property("User-Id") == "alice")

        let unlisted = try client(context, to: pull.lastEndpoint, keys: mallory, serverKey: server.publicKey)
        try unlisted.send([.text("from mallory")])
        let plaintext = try client(context, to: pull.lastEndpoint, keys: nil, serverKey: server.publicKey)
        try plaintext.send([.text("plaintext")])
        let wrongServer = try client(context, to: pull.lastEndpoint, keys: alice, serverKey: mallory.publicKey)
        try wrongServer.send([.text("wrong server key")])
        #expect(try pull.receive() == nil, "a refused client delivered a message")
    }

    @Test func keysRoundTripThroughFilesWithPrivateSecrets() throws {
        let dir = try TestSupport.temporaryDirectory()
        try alice.write(to: dir, name: "alice")
        let secret = dir.appendingPathComponent("alice.secret").path
        let mode = try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try CurveKeyPair.load(secretFile: secret) == alice)
        let listFile = dir.appendingPathComponent("allow").path
        let hashKey = String(repeating: "0000#", count: 8)
        #expect(CurveKeyPair.isValidKey(hashKey))
        try "# workers\n  # indented comment\n\(alice.publicKey) alice\n\n\(mallory.publicKey)\n\(hashKey) carol\n"
            .write(toFile: listFile, atomically: true, encoding: .utf8)
        let list = try AllowList.load(listFile)
        #expect(list.users == [alice.publicKey: "alice", mallory.publicKey: mallory.publicKey, hashKey: "carol"])
        try "not-a-key bob\n".write(toFile: listFile, atomically: true, encoding: .utf8)
        #expect(throws: CurveError.self) { try AllowList.load(listFile) }
        #expect(throws: CurveError.self) { try CurveKeyPair(publicKey: "short", secretKey: alice.secretKey) }
    }
}
