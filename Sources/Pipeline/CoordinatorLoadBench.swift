import Cluster
import Foundation
import NeuralNet

/// `distillery bench coordinator`: a coordinator process on a synthetic job, loaded by many simulated workers
/// speaking the real protocol; the assignment latency, the rate and the coordinator's CPU time per worker.
public struct CoordinatorLoadBench {
    public var workers: Int, seconds: Double
    /// How long a simulated teacher holds each item, as if computing its soft targets.
    public var workMilliseconds: Double
    public var shardSize: Int
    public let control: RunControl
    /// The `distillery` binary the coordinator runs.
    public var executable = LocalCluster.currentExecutable

    public init(workers: Int, seconds: Double, workMilliseconds: Double, shardSize: Int, control: RunControl) {
        self.workers = workers; self.seconds = seconds; self.workMilliseconds = workMilliseconds
        self.shardSize = shardSize; self.control = control
    }

    public struct Summary: Encodable {
        public var workers: Int
        public var workMilliseconds: Double
        public var seconds: Double
        public var assignments: Int
        public var assignmentsPerSecond: Double
        public var p50Milliseconds: Double, p99Milliseconds: Double, maxMilliseconds: Double
        public var coordinatorCPUPercent: Double, coordinatorCPUPercentPerWorker: Double
        public var errors: Int

        enum CodingKeys: String, CodingKey {
            case workers, seconds, assignments, errors
            case workMilliseconds = "work_ms"
            case assignmentsPerSecond = "assignments_per_second"
            case p50Milliseconds = "p50_ms", p99Milliseconds = "p99_ms", maxMilliseconds = "max_ms"
            case coordinatorCPUPercent = "coordinator_cpu_percent", coordinatorCPUPercentPerWorker = "coordinator_cpu_percent_per_worker"
        }
    }

    public func run() throws -> Summary {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distillery-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let samples = 50_000
        try SyntheticData.writeIDX(to: dir.appendingPathComponent("data").path, train: samples, test: 100)
        let teacher = dir.appendingPathComponent("teacher.safetensors")
        try Checkpoint.save(try Network(try ModelSpec("mlp:4-4"), seed: 1), to: teacher)
        let job = dir.appendingPathComponent("job.yaml").path
        try """
            name: load
            data: {dataset: idx:data/, shard_size: \(shardSize), augment: {translate: 1}}   # every epoch needs the teachers
            teachers:
              - {name: t, checkpoint: teacher.safetensors}
            distillation: {temperature: 2}
            student: {model: "mlp:4-4", epochs: 1000}
            cluster: {plaintext: true, lease_ms: 20000, heartbeat_ms: 2000}
            output: {dir: out}
            """.write(toFile: job, atomically: true, encoding: .utf8)
        let state = dir.appendingPathComponent("state").path
        let cluster = try LocalCluster(logDirectory: dir.appendingPathComponent("logs").path, executable: executable)
        defer { cluster.stop(grace: 5) }
        let coordinator = try cluster.start("coordinator", ["coordinator", "--job", job, "--bind", "tcp://127.0.0.1:*", "--state", state], threads: 1)
        let endpoint = try cluster.waitForEndpoint("\(state)/endpoint", coordinator: coordinator, timeout: 60)
        let simulation = try LoadSimulation(coordinator: endpoint, teachers: workers, member: .init(name: "t", sha256: try SHA256.hex(ofFile: teacher.path)),
                                            shardSize: shardSize, sampleCount: samples)
        control.status("coordinator at \(endpoint); \(workers) simulated teachers joining, then \(seconds) s of work")
        let cpuBefore = try cpuSeconds(coordinator.processIdentifier)
        let result = try simulation.run(seconds: seconds, workSeconds: workMilliseconds / 1000)
        let cpu = try cpuSeconds(coordinator.processIdentifier) - cpuBefore
        guard result.teachersWelcomed == workers, !result.latencies.isEmpty else {
            throw PipelineError.failed("only \(result.teachersWelcomed) of \(workers) simulated teachers joined; coordinator log:\n\(cluster.members.first.map { cluster.tail($0) } ?? "")")
        }
        let sorted = result.latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
        return Summary(workers: workers, workMilliseconds: workMilliseconds, seconds: result.seconds, assignments: sorted.count,
                       assignmentsPerSecond: Double(sorted.count) / max(result.seconds, 1e-9),
                       p50Milliseconds: percentile(0.5), p99Milliseconds: percentile(0.99), maxMilliseconds: sorted.last! * 1000,
                       coordinatorCPUPercent: 100 * cpu / max(result.seconds, 1e-9),
                       coordinatorCPUPercentPerWorker: 100 * cpu / max(result.seconds, 1e-9) / Double(workers), errors: result.errors)
    }

    /// User plus system CPU seconds of a process, from /proc.
    private func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command (which may contain spaces) start after the last ')'.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
    }
}

/// Small IDX files (2x2 images, 4 classes) for jobs that exercise the machinery, not learning.
enum SyntheticData {
    static func writeIDX(to path: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
            ([magic] + dims.map(UInt32.init)).flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
        }
        for (count, prefix) in [(train, "train"), (test, "t10k")] {
            let labels = (0..<count).map { UInt8($0 % 4) }
            let pixels = labels.flatMap { label in (0..<4).map { UInt8($0 == Int(label) ? 200 : 20) } }
            try Data(header(0x803, [count, 2, 2]) + pixels).write(to: URL(fileURLWithPath: "\(path)/\(prefix)-images-idx3-ubyte"))
            try Data(header(0x801, [count]) + labels).write(to: URL(fileURLWithPath: "\(path)/\(prefix)-labels-idx1-ubyte"))
        }
    }
}
