import Cluster
import Foundation
import NeuralNet
import Pipeline
import TestSupport
import Wire

/// A small job on disk (IDX data written here, teacher checkpoints, the job file) and the daemons of
/// `distillery` started as real processes against it by the library's `LocalCluster`, each logging to its own file.
final class ClusterHarness {
    let directory: URL
    let jobPath: String
    let cluster: LocalCluster
    var keysDirectory: String?

    /// Each name's last process.
    var processes: [String: Process] {
        Dictionary(cluster.members.map { ($0.name, $0.process) }) { $1 }
    }

    static let binary = TestSupport.distilleryBinary

    struct Settings {
        var trainSamples = 3000
        var testSamples = 500
        var shardSize = 250
        var epochs = 3
        var replicas = 1
        var batchSize = 50
        var student = "mlp:64-16-4"
        var teachers = ["mlp:64-32-4", "mlp:64-24-4"]
        var translate = 0
        var cache = true
        var encoding = "fp32"
        var leaseMilliseconds = 1500
        var trainTeachers = false
        /// What the job's `teachers[].train` says besides the model (when trainTeachers).
        var teacherTraining = "epochs: 2"
        var distillation = "{temperature: 2, alpha: 0.7}"
        var baseline = false
        /// CURVE with keys written here, instead of plain TCP.
        var encrypted = false
        var extra = ""
        /// More lines of the job's `teachers:` list (members written by the test itself).
        var extraTeachers = ""
        /// Language models on the shakespeare plays (trainSamples and testSamples windows) instead of images.
        var text = false
        /// Encodings the job also distils with (`soft_targets.compare`).
        var compare: [String] = []
        /// The members' ensemble weights (empty: none given, equal).
        var weights: [Double] = []

        /// GPTs of context 16 on shakespeare: a student and two teachers of other shapes.
        static var languageModels: Settings {
            var s = Settings()
            s.text = true
            s.trainSamples = 600
            s.testSamples = 100
            s.shardSize = 40
            s.epochs = 2
            s.batchSize = 20
            s.student = "gpt:vocab=256,ctx=16,layers=1,heads=2,d=16"
            s.teachers = ["gpt:vocab=256,ctx=16,layers=1,heads=2,d=32", "gpt:vocab=256,ctx=16,layers=2,heads=2,d=24"]
            return s
        }
    }

    init(_ label: String, _ s: Settings = Settings()) throws {
        directory = try TestSupport.temporaryDirectory(label)
        cluster = try LocalCluster(logDirectory: directory.path, executable: ClusterHarness.binary)
        let data: String
        if s.text {
            data = "dataset: shakespeare\n  limit: \(s.trainSamples)\n  test_limit: \(s.testSamples)"
        } else {
            try ClusterHarness.writeBlobs(to: directory.appendingPathComponent("data").path, train: s.trainSamples, test: s.testSamples)
            data = "dataset: idx:data/\n  augment: {translate: \(s.translate)}"
        }
        var teacherLines = ""
        for (i, spec) in s.teachers.enumerated() {
            let path = "teachers/t\(i).safetensors"
            if s.trainTeachers {
                teacherLines += "  - {name: t\(i), checkpoint: \(path), train: {model: \"\(spec)\", \(s.teacherTraining)}}\n"
            } else {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent("teachers"), withIntermediateDirectories: true)
                try Checkpoint.save(try Network(try ModelSpec(spec), seed: UInt64(100 + i)), to: directory.appendingPathComponent(path))
                let weight = i < s.weights.count ? ", weight: \(s.weights[i])" : ""
                teacherLines += "  - {name: t\(i), checkpoint: \(path)\(weight)}\n"
            }
        }
        if s.encrypted {
            // A key pair per worker name the tests use, each listed in its role, as `distillery keygen` writes them.
            let keys = directory.appendingPathComponent("keys")
            try CurveKeyPair.generate().write(to: keys, name: "coordinator")
            var allow = ClusterAllowList()
            let names: [(String, ClusterAllowList.Role)] = ClusterHarness.teacherKeyNames.map { ($0, .teacher) }
                + ClusterHarness.studentKeyNames.map { ($0, .student) } + [("operator", .operator)]
            for (name, role) in names {
                let pair = try CurveKeyPair.generate()
                try pair.write(to: keys, name: name)
                allow.set(.init(publicKey: pair.publicKey, name: name, role: role))
            }
            try allow.text.write(to: keys.appendingPathComponent("allow"), atomically: true, encoding: .utf8)
            keysDirectory = keys.path
        }
        let security = s.encrypted ? "keys: keys" : "plaintext: true"
        let yaml = """
            name: test-job
            seed: 5
            data:
              \(data)
              shard_size: \(s.shardSize)
            teachers:
            \(teacherLines)\(s.extraTeachers)distillation: \(s.distillation)
            student: {model: "\(s.student)", epochs: \(s.epochs), batch_size: \(s.batchSize), replicas: \(s.replicas), lr: 0.01, optimizer: adam, baseline: \(s.baseline)}
            soft_targets: {encoding: \(s.encoding), cache: \(s.cache), compare: [\(s.compare.joined(separator: ", "))]}
            cluster: {\(security), lease_ms: \(s.leaseMilliseconds), heartbeat_ms: 100}
            output: {dir: out}
            \(s.extra)
            """
        jobPath = directory.appendingPathComponent("job.yaml").path
        try yaml.write(toFile: jobPath, atomically: true, encoding: .utf8)
    }

    static let teacherKeyNames = ["teacher", "teacher-a", "teacher-b", "teacher-1", "teacher-2"]
    static let studentKeyNames = ["student", "student-a", "student-b", "student-1", "student-2"]

    deinit {
        for m in cluster.running { kill(m.process.processIdentifier, SIGKILL) }
        // DISTILLERY_KEEP_TEST_DIRS=1 keeps the logs and state for a look after a failure.
        if ProcessInfo.processInfo.environment["DISTILLERY_KEEP_TEST_DIRS"] != "1" { try? FileManager.default.removeItem(at: directory) }
    }

    var output: String { directory.appendingPathComponent("out").path }
    var stateDirectory: String { "\(output)/state" }

    /// Four classes of 8x8 images: a class-dependent pattern plus noise, as IDX files.
    static func writeBlobs(to path: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var rng = SystemRandomNumberGenerator()
        func write(_ n: Int, images: String, labels: String) throws {
            var pixels: [UInt8] = []
            var classes: [UInt8] = []
            for _ in 0..<n {
                let c = Int.random(in: 0..<4, using: &rng)
                classes.append(UInt8(c))
                for y in 0..<8 {
                    for x in 0..<8 {
                        let on = (c == 0 && y < 4) || (c == 1 && y >= 4) || (c == 2 && x < 4) || (c == 3 && x >= 4)
                        pixels.append(UInt8(clamping: (on ? 170 : 60) + Int.random(in: -60...60, using: &rng)))
                    }
                }
            }
            func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
                ([magic] + dims.map(UInt32.init)).flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
            }
            try Data(header(0x803, [n, 8, 8]) + pixels).write(to: URL(fileURLWithPath: "\(path)/\(images)"))
            try Data(header(0x801, [n]) + classes).write(to: URL(fileURLWithPath: "\(path)/\(labels)"))
        }
        try write(train, images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte")
        try write(test, images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte")
    }

    @discardableResult
    func start(_ name: String, _ arguments: [String], executable: String = ClusterHarness.binary,
               environment: [String: String] = [:]) throws -> Process {
        try cluster.start(name, arguments, threads: 1, executable: executable, environment: environment)
    }

    func startCoordinator(bind: String = "tcp://127.0.0.1:*", name: String = "coordinator", extra: [String] = []) throws -> (Process, String) {
        try? FileManager.default.removeItem(atPath: "\(stateDirectory)/endpoint")
        let process = try start(name, ["coordinator", "--job", jobPath, "--bind", bind, "--state", stateDirectory] + extra)
        return (process, try cluster.waitForEndpoint("\(stateDirectory)/endpoint", coordinator: process, timeout: 60))
    }

    func startTeacher(_ name: String, coordinator: String, extra: [String] = [], environment: [String: String] = [:]) throws -> Process {
        try start(name, ["teacher", "--coordinator", coordinator, "--name", name] + keyArguments + extra, environment: environment)
    }

    func startStudent(_ name: String, coordinator: String, extra: [String] = [], environment: [String: String] = [:]) throws -> Process {
        try start(name, ["student", "--coordinator", coordinator, "--name", name] + keyArguments + extra, environment: environment)
    }

    /// The student's data endpoint, once its log names it.
    func dataEndpoint(of student: String) throws -> String {
        try waitFor("\(student)'s data endpoint", timeout: 60) { () -> String? in
            log(student).components(separatedBy: "data endpoint ").dropFirst().first?.split(separator: "\n").first.map(String.init)
        }
    }

    /// The parameters of a student checkpoint the job wrote (relative to the output directory).
    func weights(_ file: String = "student.safetensors") throws -> [String: [Float]] {
        let model = try Checkpoint.load(URL(fileURLWithPath: "\(output)/\(file)")).model
        return Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value.scalars) })
    }

    /// The job distilled in one process (`distill --job`): the reference a disturbed cluster run must equal bit for bit.
    func referenceWeights() throws -> [String: [Float]] {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let run = try TestSupport.run(ClusterHarness.binary, ["distill", "--job", jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        guard run.status == 0 else { throw TestSupportError("distill --job failed: \(run.stderr.suffix(1500))") }
        return try weights("student-in-process.safetensors")
    }

    /// The largest resident set a process has had so far (VmHWM), in bytes.
    static func peakResidentBytes(_ process: Process) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kb * 1024
    }

    var keyArguments: [String] { keysDirectory.map { ["--keys", $0] } ?? [] }

    func log(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    func status(_ coordinator: String) -> ClusterStatus? {
        try? StatusClient.fetch(coordinator: coordinator, keysDirectory: keysDirectory, timeout: 1).status
    }

    /// Waits until more than `fewest` items are done and fewer than half: mid-job, for a fault to strike.
    func waitForMidJob(_ coordinator: String, fewest: Int = 9, timeout: Double = 60) throws {
        try waitFor("more than \(fewest) items done, under half", timeout: timeout) { () -> Bool? in
            guard let s = status(coordinator) else { return nil }
            return s.itemsDone > fewest && s.itemsDone < s.itemsTotal / 2 ? true : nil
        }
    }

    /// Polls `probe` until it returns a value; throws after `timeout` seconds.
    @discardableResult
    func waitFor<T>(_ what: String, timeout: Double, _ probe: () throws -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let value = try probe() { return value }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestSupportError("timed out after \(timeout) s waiting for \(what)")
    }

    /// The exit status, or a failure (after killing it) when the process outlives `timeout`.
    func exitStatus(_ name: String, timeout: Double) throws -> Int32 {
        let process = processes[name]!
        _ = try? waitFor("\(name) to exit", timeout: timeout) { process.isRunning ? nil : true }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestSupportError("\(name) hung (killed after \(timeout) s); log:\n\(log(name).suffix(2000))")
        }
        return process.terminationStatus
    }

    func state(replicas: Int) throws -> CoordinatorState {
        let yaml = try String(contentsOfFile: jobPath, encoding: .utf8)
        return try CoordinatorState(directory: stateDirectory, jobYAML: yaml, replicas: replicas)
    }

    func plan() throws -> WorkPlan { try JobContext.load(path: jobPath).plan }
}
