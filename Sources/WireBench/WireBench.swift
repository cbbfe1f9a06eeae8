import ArgumentParser
import CWireBaseline
import Dispatch
import Foundation
import Wire

/// `distillery-wire-bench`: the wire layer against plain C on libzmq. A program of its own, so the C baseline is
/// never part of the product's link.
@main
struct WireBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distillery-wire-bench",
        abstract: "Measure tensor throughput over tcp loopback: this wire layer against plain C on libzmq.",
        discussion: """
        For each size, alternates a run through the Swift layer (envelope, CRC-32C on both sides, one socket
        per thread, full validation of every message) with a run of a minimal C program using libzmq directly, and reports GB/s and the
        median ratio, in plaintext and under CURVE. JSON: a list of {bytes, mode, gbps, raw_gbps, ratio}.
        """
    )

    @Option(help: "Alternating rounds per size and mode; medians are reported.")
    var rounds: Int = 5

    @Option(help: "Bytes moved per run (sets the message count per size).")
    var volume: Int = 256 << 20

    @Flag(help: "Skip the CURVE runs.")
    var plaintextOnly = false

    @Flag(help: "Print as JSON.")
    var json = false

    func validate() throws {
        guard rounds >= 1, volume >= 1 << 20 else { throw ValidationError("--rounds must be >= 1 and --volume >= 1 MiB") }
    }

    struct Row: Encodable {
        var bytes: Int
        var mode: String
        var gbps: Double
        var rawGbps: Double
        var ratio: Double
        enum CodingKeys: String, CodingKey { case bytes, mode, gbps, ratio, rawGbps = "raw_gbps" }
    }

    func run() throws {
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        var rows: [Row] = []
        for curve in plaintextOnly ? [false] : [false, true] {
            for size in [4 << 10, 64 << 10, 1 << 20, 16 << 20] {
                // CURVE moves far fewer bytes per second: a quarter of the volume keeps runs short.
                let count = max(8, (curve ? volume / 4 : volume) / size)
                var ours: [Double] = [], raw: [Double] = [], ratios: [Double] = []
                for _ in 0..<rounds {
                    let a = try layerSeconds(size: size, count: count, keys: curve ? (server, client) : nil)
                    let b = cwire_baseline_push_pull(size, Int32(count), curve ? server.publicKey : nil, curve ? server.secretKey : nil,
                                                     curve ? client.publicKey : nil, curve ? client.secretKey : nil)
                    guard b > 0 else { throw WireBenchError("the C baseline failed (size \(size), \(curve ? "CURVE" : "plaintext"))") }
                    let gbps = { (s: Double) in Double(size * count) / s / 1e9 }
                    ours.append(gbps(a)); raw.append(gbps(b)); ratios.append(b / a)
                }
                let row = Row(bytes: size, mode: curve ? "curve" : "plaintext", gbps: median(ours), rawGbps: median(raw), ratio: median(ratios))
                rows.append(row)
                if !json {
                    FileHandle.standardError.write(Data("\(row.mode) \(size) B: \(String(format: "%.2f", row.gbps)) GB/s vs raw \(String(format: "%.2f", row.rawGbps)) GB/s, ratio \(String(format: "%.3f", row.ratio))\n".utf8))
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        print("| bytes | mode | layer GB/s | raw C GB/s | median ratio |\n|---:|---|---:|---:|---:|")
        for r in rows {
            print("| \(r.bytes) | \(r.mode) | \(String(format: "%.2f", r.gbps)) | \(String(format: "%.2f", r.rawGbps)) | \(String(format: "%.3f", r.ratio)) |")
        }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Seconds to move `count` tensors of `size` bytes through WireMessage -> Socket -> ReceivedMessage,
    /// each socket owned by one thread, as the C baseline's.
    private func layerSeconds(size: Int, count: Int, keys: (server: CurveKeyPair, client: CurveKeyPair)?) throws -> Double {
        let context = Context()
        let zap = try keys.map { try ZAPHandler(context: context, allowList: AllowList([($0.client.publicKey, "bench")])) }
        defer { zap?.stop() }
        let pull = try Socket(context, .pull)
        if let keys {
            try pull.set(.curveServer(secretKey: keys.server.secretKey))
            try pull.set(.zapDomain("bench"))
        }
        try pull.bind("tcp://127.0.0.1:*")
        let push = try Socket(context, .push)
        if let keys {
            try push.set(.curveClient(serverKey: keys.server.publicKey, publicKey: keys.client.publicKey, secretKey: keys.client.secretKey))
        }
        try push.connect(pull.lastEndpoint)
        let frame = TensorCodec.float32Bytes([Float](repeating: 0.5, count: size / 4))
        let failures = ReceiveCount()
        let receiver = UncheckedSocket(pull)
        let started = DispatchTime.now().uptimeNanoseconds
        let thread = Thread {
            for _ in 0..<count {
                guard let frames = try? receiver.socket.receive(), (try? ReceivedMessage.parse(frames)) != nil else {
                    failures.increment()
                    continue
                }
            }
            failures.finish()
        }
        thread.start()
        for i in 0..<count {
            // Each send checksums its frame and encodes its envelope; the frame bytes are reused, as the
            // C baseline reuses its buffer.
            let tensor = WireTensor(name: "t", frame: frame, dtype: .float32, shape: [size / 4])
            try push.send(WireMessage(Envelope(jobID: "bench", sender: "push", kind: .gradients(step: UInt64(i), replica: 0, samples: 1)),
                                      tensors: [tensor]).frames())
        }
        failures.waitUntilFinished()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard failures.value == 0 else { throw ValidationError("\(failures.value) messages failed validation") }
        return seconds
    }
}

/// Hands the receiving socket to the receiver thread, which alone uses it until the run ends.
private struct UncheckedSocket: @unchecked Sendable {
    let socket: Socket
    init(_ socket: Socket) { self.socket = socket }
}

/// Validation failures seen by the receiving thread, and when it is done.
private final class ReceiveCount: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func finish() { done.signal() }
    func waitUntilFinished() { done.wait() }
}

struct WireBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
