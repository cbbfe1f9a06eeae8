import Cluster
import Compute
import Foundation
import Jobs

/// `distillery run` as a library: the job's missing teachers trained, the cluster of local processes distilling,
/// the results table, then the job's compression, export and report stages, each result on disk in OUTPUT.
public struct JobRun {
    /// The job file, as the coordinator reads it again.
    public let jobFile: String
    /// `--set KEY=VALUE` replacements, applied here and handed on to the coordinator.
    public let overrides: [String]
    public let context: JobContext
    public let control: RunControl
    /// The `distillery` binary the daemons run.
    public var executable = LocalCluster.currentExecutable
    /// Where the coordinator listens.
    public var bind = "tcp://127.0.0.1:*"
    /// Prometheus metrics for every daemon from this HOST:PORT on (nil: the job's cluster.metrics).
    public var metrics: String?

    /// Reads and checks the job (with `overrides`) and its data.
    public init(jobFile: String, overrides: [String] = [], control: RunControl) throws {
        self.jobFile = jobFile
        self.overrides = overrides
        context = try JobContext.load(path: jobFile, overrides: overrides)
        self.control = control
    }

    /// Runs every stage; tables are emitted as they are ready (`.table`). A stop ends it with
    /// `PipelineError.stopped` after the results so far are written.
    public func run() throws -> JobResults {
        let spec = context.spec
        let output = spec.outputDirectory
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        ComputeThreads.set(ComputeThreads.defaultCount)
        try TeacherPreparation(context: context, control: control).trainMissing()
        try control.checkStop()

        let started = Date()
        try distil()
        let clusterSeconds = Date().timeIntervalSince(started)
        let comparisons = try distilComparisons()
        ComputeThreads.set(ComputeThreads.defaultCount)
        var results = try JobResults.collect(context: context, clusterSeconds: clusterSeconds, comparisons: comparisons, control: control)
        try results.write(to: output)
        control.emit(.table(results.table))
        try control.checkStop()
        if let compression = try CompressionStages(context: context, control: control).run() {
            results.compression = compression
            try results.write(to: output)
            control.emit(.table("\n" + compression.table))
        }
        if let stage = spec.export {
            let students = ["\(output)/student.safetensors"] + (results.compression?.entries.map(\.file) ?? [])
            results.onnx = try Set(students).sorted().map { path in
                try ExportStage.export(model: path, to: String(path.dropLast(".safetensors".count)) + ".onnx", opset: stage.opset)
            }
            for e in results.onnx ?? [] { control.emit(.table("exported \(e.onnx) (\(e.form), \(e.bytesOnDisk) bytes)")) }
            try results.write(to: output)
        }
        if let stage = spec.report {
            let written = try ReportWriter(context: context, control: control).write(
                sweep: PruningSweep(context: context, stage: stage, control: control), student: "\(output)/student.safetensors")
            control.emit(.table("\n" + PruningSweep.markdown(dense: written.denseAccuracy, points: written.points) + "\n\nreport: \(output)/report.md"))
        }
        return results
    }

    /// The student distilled again for each encoding of `soft_targets.compare`, each a cluster run of its own into
    /// OUTPUT/compare-ENCODING.
    func distilComparisons() throws -> [JobResults.Comparison] {
        try context.spec.softTargetComparisons.map { encoding in
            let directory = "\(context.spec.outputDirectory)/compare-\(encoding.description.replacingOccurrences(of: ":", with: "-"))"
            control.status("distilling again with \(encoding) soft targets, for the table: \(directory)")
            var run = try JobRun(jobFile: jobFile, overrides: overrides + [
                "soft_targets.encoding=\(encoding)", "soft_targets.compare=[]", "output.dir=\(directory)"], control: control)
            run.executable = executable
            run.bind = bind
            run.metrics = metrics
            let started = Date()
            try run.distil()
            try control.checkStop()
            return JobResults.Comparison(encoding: encoding, directory: directory, jobYAML: run.context.yaml, seconds: Date().timeIntervalSince(started))
        }
    }

    /// The cluster phase: coordinator, teachers and student replicas as local processes until the coordinator ends;
    /// OUTPUT/student.safetensors and OUTPUT/state hold what it did.
    public func distil() throws {
        let spec = context.spec
        let state = "\(spec.outputDirectory)/state"
        try? FileManager.default.removeItem(atPath: state)
        try? FileManager.default.removeItem(atPath: "\(spec.outputDirectory)/student.safetensors")
        let cluster = try LocalCluster(logDirectory: "\(spec.outputDirectory)/logs", executable: executable)
        // Teachers do most of the arithmetic (every member, every sample, every epoch with augmentation):
        // they share the cores; each student replica takes a share of them too.
        let cores = ComputeThreads.defaultCount
        let teacherThreads = max(1, cores / spec.cluster.localTeachers)
        let studentThreads = max(1, cores / (spec.cluster.localTeachers + spec.student.replicas))
        let metrics = self.metrics ?? spec.cluster.metrics
        // The coordinator knows its workers: once all have heard the job's end it need not wait for late ones.
        let workers = spec.cluster.localTeachers + spec.student.replicas
        let coordinator = try cluster.start("coordinator", ["coordinator", "--job", jobFile, "--bind", bind, "--state", state,
                                                            "--expect-workers", "\(workers)"]
                                            + overrides.flatMap { ["--set", $0] } + LocalCluster.metricsArguments(metrics, index: 0), threads: 1)
        let endpoint = try cluster.waitForEndpoint("\(state)/endpoint", coordinator: coordinator)
        try cluster.startTeachers(spec, coordinator: endpoint, threads: teacherThreads, metrics: metrics)
        for r in 0..<spec.student.replicas {
            try cluster.start("student-\(r + 1)", ["student", "--coordinator", endpoint, "--name", "student-\(r + 1)"] + LocalCluster.keyArguments(spec)
                              + LocalCluster.metricsArguments(metrics, index: 1 + spec.cluster.localTeachers + r), threads: studentThreads)
        }
        control.status("cluster up: coordinator \(endpoint), \(spec.cluster.localTeachers) teacher and \(spec.student.replicas) student processes (\(teacherThreads) and \(studentThreads) threads); logs in \(cluster.logDirectory)")
        if metrics != nil {
            let directory = "\(spec.outputDirectory)/prometheus-targets"
            let targets = try cluster.writeMetricsTargets(to: directory)
            control.status("metrics: \(targets.values.joined().sorted().joined(separator: ", ")); Prometheus targets in \(directory) (put ops/prometheus.yml beside them)")
        }
        let task = "distillation"
        while coordinator.isRunning {
            if control.shouldStop() {
                control.emit(.progressEnded(task: task))
                control.status("stopping the cluster")
                cluster.stop()
                throw PipelineError.stopped
            }
            Thread.sleep(forTimeInterval: 1)
            guard coordinator.isRunning, let status = try? StatusClient.fetch(coordinator: endpoint, keysDirectory: spec.cluster.plaintext ? nil : spec.cluster.keys, timeout: 2).status else { continue }
            control.emit(.progress(task: task, fraction: status.progress, detail: Self.progressDetail(status)))
        }
        control.emit(.progressEnded(task: task))
        if !cluster.waitForAll(seconds: 30) { cluster.stop() }
        guard coordinator.terminationStatus == 0 else {
            throw PipelineError.clusterFailed(exitStatus: coordinator.terminationStatus, log: cluster.tail(of: "coordinator"))
        }
        for m in cluster.members where m.process.terminationStatus != 0 {
            control.emit(.warning("\(m.name) exited with \(m.process.terminationStatus); see \(m.log)"))
        }
    }

    /// The figures of a cluster's progress line: the slowest student's epoch, items, rate, ETA, last test accuracy.
    public static func progressDetail(_ s: ClusterStatus) -> String {
        let student = s.workers.filter { $0.role == "student" }.min { ($0.epoch ?? 0, $0.samplesDone ?? 0) < ($1.epoch ?? 0, $1.samplesDone ?? 0) }
        let epoch = (student?.epoch ?? 0) + 1
        let last = s.epochResults.last(where: { $0.testAccuracy != nil })?.testAccuracy
        return "epoch \(min(epoch, s.epochs))/\(s.epochs) items \(s.itemsDone)/\(s.itemsTotal)"
            + (s.samplesPerSecond.map { String(format: " %.0f samples/s", $0) } ?? "")
            + (s.etaSeconds.map { String(format: " ETA %.0fs", $0) } ?? "")
            + (last.map { String(format: " test_acc %.4f", $0) } ?? "")
    }
}
