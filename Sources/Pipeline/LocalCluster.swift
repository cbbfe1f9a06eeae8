import Cluster
import Foundation
import Jobs

/// Daemons of `distillery` started as local processes (coordinator, teachers, students on 127.0.0.1), each
/// logging to its own file: what `distillery run`, fine-tuning through the cluster and the tests start.
public final class LocalCluster {
    public struct Member {
        public var name: String
        public var process: Process
        public var log: String
    }

    public let logDirectory: String
    /// The `distillery` binary the daemons run.
    public let executable: String
    public private(set) var members: [Member] = []

    public init(logDirectory: String, executable: String = LocalCluster.currentExecutable) throws {
        self.logDirectory = logDirectory
        self.executable = executable
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    /// This process's binary; after a rebuild replaced it on disk, the new one at the same path.
    public static var currentExecutable: String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return CommandLine.arguments[0] }
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// Starts `executable arguments` as `name` with `threads` compute threads, its output in LOGS/NAME.log
    /// (a name started again gets a fresh log).
    @discardableResult
    public func start(_ name: String, _ arguments: [String], threads: Int, executable: String? = nil,
                      environment extra: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? self.executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DISTILLERY_THREADS"] = "\(threads)"
        // The processes share the cores: threads that wait should sleep, not spin.
        environment["OMP_WAIT_POLICY"] = "PASSIVE"
        environment.merge(extra) { $1 }
        process.environment = environment
        let log = logPath(name)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        members.append(Member(name: name, process: process, log: log))
        return process
    }

    public func logPath(_ name: String) -> String { "\(logDirectory)/\(name).log" }

    /// The process last started as `name`.
    public func process(named name: String) -> Process? { members.last { $0.name == name }?.process }

    public var running: [Member] { members.filter { $0.process.isRunning } }

    /// SIGTERM to every process still running, then SIGKILL to those that outlive `grace` seconds.
    public func stop(grace: Double = 10) {
        for m in running { m.process.terminate() }
        let deadline = monotonicSeconds() + grace
        while !running.isEmpty && monotonicSeconds() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        for m in running { kill(m.process.processIdentifier, SIGKILL) }
        for m in members { m.process.waitUntilExit() }
    }

    /// Waits for every process to exit on its own, up to `seconds`; returns whether they did.
    public func waitForAll(seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + seconds
        while !running.isEmpty && monotonicSeconds() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return running.isEmpty
    }

    public func tail(_ member: Member, lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: member.log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// The last lines of the log of the process last started as `name`.
    public func tail(of name: String, lines: Int = 15) -> String {
        members.last { $0.name == name }.map { tail($0, lines: lines) } ?? ""
    }

    /// `--keys DIR` for the job's workers, nothing for a plaintext job.
    public static func keyArguments(_ spec: JobSpec) -> [String] {
        spec.cluster.plaintext ? [] : ["--keys", spec.cluster.keys!]
    }

    /// The job's `cluster.local_teachers` teacher workers, named teacher-1..., each with `threads` threads; with
    /// `metrics`, each serves them on its own port (see `metricsArguments`).
    public func startTeachers(_ spec: JobSpec, coordinator endpoint: String, threads: Int, metrics: String? = nil) throws {
        for i in 0..<spec.cluster.localTeachers {
            try start("teacher-\(i + 1)", ["teacher", "--coordinator", endpoint, "--name", "teacher-\(i + 1)"] + Self.keyArguments(spec)
                      + Self.metricsArguments(metrics, index: 1 + i), threads: threads)
        }
    }

    /// `--metrics HOST:PORT` for the `index`-th daemon of a local run: its own port above a base one, or a free one
    /// when the base port is 0.
    public static func metricsArguments(_ address: String?, index: Int) -> [String] {
        guard let address, let colon = address.lastIndex(of: ":"), let base = Int(address[address.index(after: colon)...]) else { return [] }
        return ["--metrics", "\(address[..<colon]):\(base == 0 ? 0 : base + index)"]
    }

    /// Waits until every daemon started with --metrics has said where it serves them ("metrics at http://HOST:PORT"),
    /// then writes Prometheus' file-discovery targets for them: DIR/coordinator.yml, teachers.yml and students.yml,
    /// as ops/prometheus.yml reads them. Returns the targets by file.
    @discardableResult
    public func writeMetricsTargets(to directory: String, timeout: Double = 60) throws -> [String: [String]] {
        var targets: [String: [String]] = ["coordinator": [], "teachers": [], "students": []]
        let deadline = monotonicSeconds() + timeout
        for member in members {
            let file = member.name == "coordinator" ? "coordinator" : member.name.hasPrefix("teacher") ? "teachers" : "students"
            while true {
                let text = (try? String(contentsOfFile: member.log, encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("metrics at http://") }),
                   let address = line.components(separatedBy: "metrics at http://").last?.split(separator: "/").first {
                    targets[file]!.append(String(address))
                    break
                }
                guard member.process.isRunning, monotonicSeconds() < deadline else {
                    throw PipelineError.metricsNotReported(daemon: member.name, log: tail(member))
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (file, list) in targets {
            let text = "# Written by distillery run: this run's \(file) (ops/prometheus.yml reads prometheus-targets/\(file).yml).\n"
                + "- targets: [\(list.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
            try text.write(toFile: "\(directory)/\(file).yml", atomically: true, encoding: .utf8)
        }
        return targets
    }

    /// The endpoint a coordinator started here writes to its state directory once it listens (STATE/endpoint).
    public func waitForEndpoint(_ path: String, coordinator: Process, timeout: Double = 120) throws -> String {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if !coordinator.isRunning {
                throw PipelineError.coordinatorDidNotStart(log: members.first { $0.process === coordinator }.map { tail($0) } ?? "")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw PipelineError.coordinatorSilent(seconds: Int(timeout))
    }
}
