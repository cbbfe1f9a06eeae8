import Cluster
import Compute
import Foundation
import Training

/// Fine-tuning through the cluster: every fine-tuning run gets a job like the given one (its seed, epochs and batch
/// size set to the run's), a coordinator and the job's local teacher processes on 127.0.0.1, and this process as
/// the student. Logs: OUTPUT/logs/finetune-N/.
public final class ClusterFineTuning {
    public let context: JobContext
    let control: RunControl
    let executable: String
    private var runs = 0

    public init(context: JobContext, control: RunControl, executable: String = LocalCluster.currentExecutable) {
        self.context = context
        self.control = control
        self.executable = executable
    }

    public func source(_ config: TrainingConfig) throws -> any SoftTargetSource {
        runs += 1
        let spec = context.spec
        let name = "finetune-\(ProcessInfo.processInfo.processIdentifier)-\(runs)"
        let work = "\(spec.outputDirectory)/\(name)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // The job as this process read it (with any --set), its paths still relative to the original's directory.
        try context.yaml.write(toFile: "\(work)/job.yaml", atomically: true, encoding: .utf8)
        let cluster = try LocalCluster(logDirectory: "\(spec.outputDirectory)/logs/\(name)", executable: executable)
        let settings = ["seed=\(config.seed)", "student.epochs=\(config.epochs)", "student.replicas=1", "student.batch_size=\(config.batchSize)"]
        let coordinator = try cluster.start("coordinator", ["coordinator", "--job", "\(work)/job.yaml", "--job-directory", context.directory,
                                                            "--bind", "tcp://127.0.0.1:*", "--state", "\(work)/state",
                                                            "--expect-workers", "\(spec.cluster.localTeachers + 1)"]
                                                           + settings.flatMap { ["--set", $0] }, threads: 1)
        let endpoint = try cluster.waitForEndpoint("\(work)/state/endpoint", coordinator: coordinator)
        let cores = ComputeThreads.defaultCount
        try cluster.startTeachers(spec, coordinator: endpoint, threads: max(1, cores / spec.cluster.localTeachers))
        let source: ClusterSoftTargets
        do {
            source = try ClusterSoftTargets(coordinator: endpoint, name: "fine-tuning", keysDirectory: spec.cluster.plaintext ? nil : spec.cluster.keys,
                                            keyName: "student-1", shouldStop: control.shouldStop)
        } catch {
            cluster.stop()
            throw error
        }
        // The student shares the cores with the teachers, as in `distillery run`.
        let threads = ComputeThreads.current
        ComputeThreads.set(max(1, cores / (spec.cluster.localTeachers + 1)))
        source.onFinish = {
            ComputeThreads.set(threads)
            if !cluster.waitForAll(seconds: 30) { cluster.stop() }
            try? FileManager.default.removeItem(atPath: work)
        }
        return source
    }
}
