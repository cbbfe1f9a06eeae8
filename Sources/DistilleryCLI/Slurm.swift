import ArgumentParser
import Cluster
import Foundation
import Jobs
import Pipeline

/// One task of `srun distillery slurm --job JOB.yaml`: works out from the SLURM environment which daemon it is
/// and with what flags, then runs that daemon's command. cluster/slurm/distill.sbatch is the batch script.
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Run this Slurm task's daemon: task 0 the coordinator, then the teachers, then the student replicas.",
        discussion: """
        Run it as every task of one job step (srun). Task 0 (on the step's first node)
        is the coordinator, bound to a port derived from SLURM_JOB_ID; tasks 1...N are
        teacher workers; the job's student.replicas remaining tasks are student
        replicas, advertising their node's address. Keys come from the job's
        cluster.keys directory (a shared file system). Worker names are NODE-teacherI
        / NODE-studentI.

        Example:
          sbatch --nodes=3 --ntasks=4 cluster/slurm/distill.sbatch \\
            cluster/jobs/fashion-quick.yaml
        """
    )

    @Option(help: "The job file (YAML), at the same path on every node.")
    var job: String

    @Option(help: "Teacher tasks (default: every task that is neither the coordinator nor a student replica).")
    var teachers: Int?

    @Flag(help: "Serve /metrics from every task, on port (the job's base port + 1 + SLURM_PROCID).")
    var metrics = false

    @Option(help: "The coordinator's state directory (default: the job's output directory /state).")
    var state: String?

    @Option(help: "Seconds a worker waits for the coordinator's welcome.")
    var connectTimeout: Double = 300

    func run() throws {
        let task = try SlurmTask(environment: ProcessInfo.processInfo.environment)
        // The spec only: the daemon this task becomes reads the data itself.
        let spec = try JobSpec.load(job)
        let cluster = spec.cluster
        let replicas = spec.student.replicas
        let role = try task.role(teachers: teachers ?? (task.tasks - 1 - replicas), replicas: replicas)
        let coordinator = "tcp://\(try SlurmTask.address(of: task.coordinatorNode)):\(task.coordinatorPort)"
        let keys = cluster.plaintext ? [] : ["--keys", cluster.keys!] + (role.keyName.map { ["--key", $0] } ?? [])
        let metricsArguments = metrics ? ["--metrics", "0.0.0.0:\(task.metricsPort)"] : []
        let threads = task.cpusPerTask.map { ["--threads", "\($0)"] } ?? []
        let worker = ["--coordinator", coordinator, "--name", task.workerName(role), "--connect-timeout", "\(connectTimeout)"] + keys
        let pid = ProcessInfo.processInfo.processIdentifier
        Terminal.status("slurm job \(task.jobID) task \(task.rank)/\(task.tasks) on \(task.node) (pid \(pid)): \(role.description) -> coordinator \(coordinator)")
        switch role {
        case .coordinator:
            guard task.node == task.coordinatorNode else {
                throw PipelineError.failed("task 0 runs on \(task.node), not on the step's first node \(task.coordinatorNode): keep Slurm's default block distribution")
            }
            // Every other task of the step is a worker: tell each the job's end, however late it connects.
            let command = try CoordinatorCommand.parse(["--job", job, "--bind", "tcp://0.0.0.0:\(task.coordinatorPort)",
                                                        "--drain", "\(connectTimeout)", "--expect-workers", "\(task.tasks - 1)"]
                                                       + (state.map { ["--state", $0] } ?? []) + metricsArguments)
            try command.run()
        case .teacher:
            let command = try TeacherCommand.parse(worker + threads + metricsArguments)
            try command.run()
        case .student:
            let advertise = try SlurmTask.address(of: task.node)
            let command = try StudentCommand.parse(worker + ["--bind", "tcp://0.0.0.0:*", "--advertise", advertise] + threads + metricsArguments)
            try command.run()
        }
    }
}

extension SlurmTask.Role {
    /// The key pair a task of this role presents under CURVE: what `distillery keygen --teachers N --students M` names
    /// (teacher-1..., student-1...).
    var keyName: String? {
        switch self {
        case .coordinator: return nil
        case let .teacher(i): return "teacher-\(i + 1)"
        case let .student(i): return "student-\(i + 1)"
        }
    }
}

extension SlurmTask.Role: CustomStringConvertible {
    public var description: String {
        switch self {
        case .coordinator: return "coordinator"
        case let .teacher(i): return "teacher \(i)"
        case let .student(i): return "student replica \(i)"
        }
    }
}
