import ArgumentParser
import Cluster
import Foundation
import Monitoring
import Pipeline

/// `--set KEY=VALUE`: a job file's values replaced for this run.
struct JobOverrideOptions: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Replace a job file value, e.g. --set distillation.temperature=4 (YAML; repeat for more).", valueName: "key=value"))
    var settings: [String] = []

    /// The same flags, for a daemon this command starts.
    var arguments: [String] { settings.flatMap { ["--set", $0] } }
}

/// `--metrics HOST:PORT`: where a daemon serves /metrics for Prometheus.
struct MetricsOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 0.0.0.0:9464 (port 0 picks a free one). Off by default.")
    var metrics: String?

    func validate() throws {
        if let metrics { _ = try MetricsServer.parse(metrics) }
    }

    /// Starts the endpoint; keep the server alive as long as the daemon runs.
    func serve(_ registry: MetricsRegistry, daemon: String) throws -> MetricsServer? {
        guard let metrics else { return nil }
        let server = try MetricsServer(address: metrics, registry: registry.prometheus)
        Terminal.status("\(daemon): metrics at \(server.url)")
        return server
    }
}

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run a job's coordinator: shards the data, hands out work, tracks it to the end.",
        discussion: """
        Teachers and students connect with --coordinator ADDR. The job state lives in
        SQLite under --state, which one live coordinator holds at a time; a
        coordinator restarted on the same directory (after kill -9 or SIGTERM, on this
        machine or another) resumes without redoing finished work, and the workers
        that waited for it register again. Exits 0 when the job completes, 1 when it
        fails (a student replica lost), 0 after SIGTERM (state kept, job resumable).
        """
    )

    @Option(help: "The job file (YAML).")
    var job: String

    @Option(help: "Where to listen, e.g. tcp://0.0.0.0:5555 (default: the job's cluster.coordinator). A port of * picks a free one, written to STATE/endpoint.")
    var bind: String?

    @Option(help: "State directory (default: the job's output directory /state).")
    var state: String?

    @Option(help: "Resolve the job's relative paths against this directory instead of the job file's (a job file written elsewhere).")
    var jobDirectory: String?

    @Option(help: "After the job ends, seconds to keep telling late workers so.")
    var drain: Double = 3

    @Option(help: "Stop that early once this many workers have been told (a Slurm step knows its tasks).")
    var expectWorkers: Int?

    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var overrides: JobOverrideOptions

    func validate() throws {
        guard drain >= 0, drain <= 3600 else { throw ValidationError("--drain must be 0...3600 seconds, got \(drain)") }
        if let expectWorkers, expectWorkers < 1 { throw ValidationError("--expect-workers must be at least 1") }
    }

    func run() throws {
        StopSignal.install()
        let context = try JobContext.load(path: job, overrides: overrides.settings, directory: jobDirectory)
        var options = Coordinator.Options()
        options.drainSeconds = drain
        options.expectedWorkers = expectWorkers
        let coordinator = try Coordinator(job: context, bind: bind ?? context.spec.cluster.coordinator,
                                          stateDirectory: state ?? "\(context.spec.outputDirectory)/state", options: options)
        let server = try metrics.serve(coordinator.metrics.registry, daemon: "coordinator")
        defer { server?.stop() }
        switch try coordinator.run(shouldStop: { StopSignal.isRequested }) {
        case .complete, .stopped: return
        case let .failed(reason):
            Terminal.status("error: job failed: \(reason)")
            throw ExitCode(1)
        }
    }
}

/// Options every worker daemon takes.
struct WorkerOptions: ParsableArguments {
    @Option(help: "The coordinator's address, e.g. tcp://10.0.0.1:5555.")
    var coordinator: String

    @Option(help: "This worker's name (default: HOST-PID); a job's teachers may restrict members to names.")
    var name: String?

    @Option(help: "CURVE keys directory (coordinator.key and this worker's KEY.secret); omit only for a job with cluster.plaintext: true.")
    var keys: String?

    @Option(help: "Whose key pair in --keys to present (default: the worker's --name).")
    var key: String?

    @Option(help: "Seconds to wait for the coordinator's welcome.")
    var connectTimeout: Double = 600

    var resolvedName: String { name ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)" }

    func validate() throws {
        guard coordinator.hasPrefix("tcp://") else { throw ValidationError("--coordinator must be tcp://HOST:PORT, got '\(coordinator)'") }
        if let problem = WorkerName.problem(resolvedName) { throw ValidationError("--name: \(problem)") }
        if let key, let problem = WorkerName.problem(key) { throw ValidationError("--key: \(problem)") }
    }
}

struct TeacherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher",
        abstract: "Run a teacher worker: computes soft targets for the coordinator's work items.",
        discussion: """
        Loads its ensemble members from the job the coordinator sends (paths as on a
        shared file system) and sends soft targets straight to the students.
        """
    )

    @OptionGroup var worker: WorkerOptions

    @Option(help: "Serve only these ensemble members (comma-separated; default: all the job allows this worker).")
    var members: String?

    @OptionGroup var compute: ComputeOptions
    @OptionGroup var metrics: MetricsOptions

    func run() throws {
        compute.apply()
        StopSignal.install()
        var options = TeacherWorker.Options(coordinator: worker.coordinator, name: worker.resolvedName, keysDirectory: worker.keys,
                                            keyName: worker.key, members: members.map { $0.split(separator: ",").map(String.init) })
        options.connectTimeout = worker.connectTimeout
        let teacher = try TeacherWorker(options)
        let server = try metrics.serve(teacher.metrics.registry, daemon: "teacher \(worker.resolvedName)")
        defer { server?.stop() }
        let goodbye = try teacher.run(shouldStop: { StopSignal.isRequested })
        if goodbye?.ending == .failed { throw ExitCode(1) }
    }
}

struct StudentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "student",
        abstract: "Run a student trainer: learns from the ensemble's soft targets, in step with its replicas.",
        discussion: """
        Binds a data endpoint for soft targets and peer gradients; replica 0 writes
        the checkpoints.
        """
    )

    @OptionGroup var worker: WorkerOptions

    @Option(help: "Where the data endpoint listens (port * picks a free one).")
    var bind: String = "tcp://127.0.0.1:*"

    @Option(help: "The host name or address peers reach the data endpoint at, when --bind is a wildcard address.")
    var advertise: String?

    @Option(help: "Seconds to wait for a peer replica's gradients before failing.")
    var peerTimeout: Double = 60

    @OptionGroup var compute: ComputeOptions
    @OptionGroup var metrics: MetricsOptions

    func run() throws {
        compute.apply()
        StopSignal.install()
        var options = StudentDataPlane.Options(coordinator: worker.coordinator, name: worker.resolvedName, keysDirectory: worker.keys)
        options.keyName = worker.key
        options.bind = bind
        options.advertiseHost = advertise
        options.connectTimeout = worker.connectTimeout
        let student = try StudentTrainer(options, peerTimeout: peerTimeout)
        let server = try metrics.serve(student.metrics.registry, daemon: "student \(worker.resolvedName)")
        defer { server?.stop() }
        let summary: StudentTrainer.Summary
        do {
            summary = try student.run(shouldStop: { StopSignal.isRequested })
        } catch where StopSignal.isRequested {
            Terminal.status("stopped by a signal; the coordinator was told")
            return
        }
        Terminal.status("replica \(summary.replica): \(summary.steps) steps; weights sha256 \(summary.weightsSHA256)\(summary.checkpoint.map { "; saved \($0)" } ?? "")")
    }
}
