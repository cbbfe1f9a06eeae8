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
        per thread, full validation of every message) with runs of a minimal C program using libzmq directly, with
        nothing on top (raw) and with only a CRC-32C of every message on both ends (checked: what any layer that
        verifies its data pays), and reports GB/s and the median ratios, in plaintext and under CURVE. The default
        sizes end with 200704 B, the LM data plane's real message: top-k 32 soft targets of a shard of 32 windows of
        64 bytes (98 B a position). JSON: a list of {bytes, mode, gbps, raw_gbps, checked_gbps, ratio, ratio_checked}.
        """
    )

    @Option(help: "Alternating rounds per size and mode; medians are reported.")
    var rounds: Int = 5

    @Option(help: "Bytes moved per run (sets the message count per size).")
    var volume: Int = 256 << 20

    @Option(parsing: .upToNextOption, help: "Tensor sizes in bytes (multiples of 4).")
    var sizes: [Int] = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 32 * 64 * 98]

    @Flag(help: "Skip the CURVE runs.")
    var plaintextOnly = false

    @Flag(help: "Print as JSON.")
    var json = false

    func validate() throws {
        guard rounds >= 1, volume >= 1 << 20 else { throw ValidationError("--rounds must be >= 1 and --volume >= 1 MiB") }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 4 && $0 % 4 == 0 && $0 <= 1 << 30 }) else {
            throw ValidationError("--sizes must be multiples of 4 bytes, from 4 B to 1 GiB")
        }
    }

    struct Row: Encodable {
        var bytes: Int
        var mode: String
        var gbps: Double
        var rawGbps: Double
        var checkedGbps: Double
        var ratio: Double
        var ratioChecked: Double
        enum CodingKeys: String, CodingKey {
            case bytes, mode, gbps, ratio, rawGbps = "raw_gbps", checkedGbps = "checked_gbps", ratioChecked = "ratio_checked"
        }
    }

    func run() throws {
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        var rows: [Row] = []
        for curve in plaintextOnly ? [false] : [false, true] {
            for size in sizes {
                // CURVE moves far fewer bytes per second: a quarter of the volume keeps runs short.
                let count = max(8, (curve ? volume / 4 : volume) / size)
                var ours: [Double] = [], raw: [Double] = [], checked: [Double] = [], ratios: [Double] = [], checkedRatios: [Double] = []
                for _ in 0..<rounds {
                    let a = try layerSeconds(size: size, count: count, keys: curve ? (server, client) : nil)
                    let b = try baselineSeconds(size: size, count: count, checksum: false, keys: curve ? (server, client) : nil)
                    let c = try baselineSeconds(size: size, count: count, checksum: true, keys: curve ? (server, client) : nil)
                    let gbps = { (s: Double) in Double(size * count) / s / 1e9 }
                    ours.append(gbps(a)); raw.append(gbps(b)); checked.append(gbps(c))
                    ratios.append(b / a); checkedRatios.append(c / a)
                }
                let row = Row(bytes: size, mode: curve ? "curve" : "plaintext", gbps: median(ours), rawGbps: median(raw),
                              checkedGbps: median(checked), ratio: median(ratios), ratioChecked: median(checkedRatios))
                rows.append(row)
                if !json {
                    let line = "\(row.mode) \(size) B: \(format(row.gbps)) GB/s vs raw \(format(row.rawGbps)), checked \(format(row.checkedGbps)): ratios \(format(row.ratio, 3)), \(format(row.ratioChecked, 3))\n"
                    FileHandle.standardError.write(Data(line.utf8))
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        print("| bytes | mode | layer GB/s | raw C GB/s | checked C GB/s | ratio to raw | ratio to checked |\n|---:|---|---:|---:|---:|---:|---:|")
        for r in rows {
            print("| \(r.bytes) | \(r.mode) | \(format(r.gbps)) | \(format(r.rawGbps)) | \(format(r.checkedGbps)) | \(format(r.ratio, 3)) | \(format(r.ratioChecked, 3)) |")
        }
    }

    private func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

    private func baselineSeconds(size: Int, count: Int, checksum: Bool, keys: (server: CurveKeyPair, client: CurveKeyPair)?) throws -> Double {
        let seconds = cwire_baseline_push_pull(size, Int32(count), checksum ? 1 : 0, keys?.server.publicKey, keys?.server.secretKey,
                                               keys?.client.publicKey, keys?.client.secretKey)
        guard seconds > 0 else { throw WireBenchError("the C baseline failed (size \(size), \(keys == nil ? "plaintext" : "CURVE"))") }
        return seconds
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
                do {
                    guard let frames = try receiver.socket.receive() else { throw WireBenchError("no message") }
                    _ = try ReceivedMessage.parse(frames)
                } catch {
                    failures.record(error)
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
        guard failures.value == 0 else {
            throw WireBenchError("\(failures.value) messages failed validation, the first: \(failures.first.map { "\($0)" } ?? "?")")
        }
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
    private var firstError: Error?
    func record(_ error: Error) { lock.lock(); count += 1; if firstError == nil { firstError = error }; lock.unlock() }
    var first: Error? { lock.lock(); defer { lock.unlock() }; return firstError }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func finish() { done.signal() }
    func waitUntilFinished() { done.wait() }
}

struct WireBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
