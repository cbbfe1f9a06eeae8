import ArgumentParser
import Cluster
import Compute
import Datasets
import Foundation
import Jobs
import Monitoring
import NeuralNet
import Training

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a whole distillation job on this machine: coordinator, teachers and students as local processes.",
        discussion: """
        Trains the teachers whose checkpoints are missing (on the job's augmentation), starts the coordinator,
        cluster.local_teachers teacher processes and one process per student replica on 127.0.0.1 over ZeroMQ
        TCP, shows their progress, trains the student alone when the job asks for that baseline, and prints the
        results table (also OUTPUT/results.md and results.json). Then the job's `prune:` and `quantize:` stages
        compress the student (OUTPUT/student-pruned.safetensors, student-int8.safetensors) with a table of accuracy,
        bytes on disk and latency, and a `report:` section runs the pruning sweep of `distillery report`.
        Logs: OUTPUT/logs/.

        Example:  distillery run cluster/jobs/fashion-quick.yaml
        """
    )

    @Argument(help: "The job file (YAML).")
    var job: String

    @Option(help: "Where the coordinator listens (default: a free port on 127.0.0.1).")
    var bind: String = "tcp://127.0.0.1:*"

    @Flag(help: "Print the results as JSON on stdout.")
    var json = false

    @Option(help: "Every daemon serves Prometheus metrics: the coordinator on HOST:PORT, teachers and students on the ports after it (port 0: free ones); targets in OUTPUT/prometheus-targets/ (default: the job's cluster.metrics).")
    var metrics: String?

    @OptionGroup var overrides: JobOverrideOptions

    func validate() throws {
        if let metrics { _ = try MetricsServer.parse(metrics) }
    }

    func run() throws {
        StopSignal.install()
        let context = try JobContext.load(path: job, overrides: overrides.settings)
        let spec = context.spec
        let output = spec.outputDirectory
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        ComputeSetup.apply(threads: nil)
        try TeacherPreparation(context: context).trainMissing(shouldStop: { StopSignal.isRequested })
        if StopSignal.isRequested { throw ExitCode(130) }

        let started = Date()
        try runCluster(context)
        let clusterSeconds = Date().timeIntervalSince(started)
        ComputeSetup.apply(threads: nil)
        var results = try JobResults.collect(context: context, clusterSeconds: clusterSeconds, shouldStop: { StopSignal.isRequested })
        try results.write(to: output)
        if !json { Terminal.line(results.table) }
        if StopSignal.isRequested { throw ExitCode(130) }
        if let compression = try CompressionStages(context: context).run(shouldStop: { StopSignal.isRequested }) {
            results.compression = compression
            try results.write(to: output)
            if !json { Terminal.line("\n" + compression.table) }
        }
        if let stage = spec.export {
            let students = ["\(output)/student.safetensors"] + (results.compression?.entries.map(\.file) ?? [])
            results.onnx = try Set(students).sorted().map { path in
                try ExportStage.export(model: path, to: String(path.dropLast(".safetensors".count)) + ".onnx", opset: stage.opset)
            }
            if !json { for e in results.onnx ?? [] { Terminal.line("exported \(e.onnx) (\(e.form), \(e.bytesOnDisk) bytes)") } }
            try results.write(to: output)
        }
        if let stage = spec.report {
            let written = try ReportWriter(context: context).write(sweep: PruningSweep(context: context, stage: stage),
                                                                   student: "\(output)/student.safetensors", shouldStop: { StopSignal.isRequested })
            if !json { Terminal.line("\n" + PruningSweep.markdown(dense: written.denseAccuracy, points: written.points) + "\n\nreport: \(output)/report.md") }
        }
        if json { try Terminal.printJSON(results) }
    }

    private func runCluster(_ context: JobContext) throws {
        let spec = context.spec
        let state = "\(spec.outputDirectory)/state"
        try? FileManager.default.removeItem(atPath: state)
        try? FileManager.default.removeItem(atPath: "\(spec.outputDirectory)/student.safetensors")
        let cluster = try LocalCluster(logDirectory: "\(spec.outputDirectory)/logs")
        // Teachers do most of the arithmetic (every member, every sample, every epoch with augmentation):
        // they share the cores; each student replica takes a share of them too.
        let cores = ComputeThreads.defaultCount
        let teacherThreads = max(1, cores / spec.cluster.localTeachers)
        let studentThreads = max(1, cores / (spec.cluster.localTeachers + spec.student.replicas))
        let metrics = self.metrics ?? spec.cluster.metrics
        // The coordinator knows its workers: once all have heard the job's end it need not wait for late ones.
        let workers = spec.cluster.localTeachers + spec.student.replicas
        let coordinator = try cluster.start("coordinator", ["coordinator", "--job", job, "--bind", bind, "--state", state, "--expect-workers", "\(workers)"]
                                            + overrides.arguments + LocalCluster.metricsArguments(metrics, index: 0), threads: 1)
        let endpoint = try cluster.waitForEndpoint("\(state)/endpoint", coordinator: coordinator)
        try cluster.startTeachers(spec, coordinator: endpoint, threads: teacherThreads, metrics: metrics)
        for r in 0..<spec.student.replicas {
            try cluster.start("student-\(r + 1)", ["student", "--coordinator", endpoint, "--name", "student-\(r + 1)"] + LocalCluster.keyArguments(spec)
                              + LocalCluster.metricsArguments(metrics, index: 1 + spec.cluster.localTeachers + r), threads: studentThreads)
        }
        Terminal.status("cluster up: coordinator \(endpoint), \(spec.cluster.localTeachers) teacher and \(spec.student.replicas) student processes (\(teacherThreads) and \(studentThreads) threads); logs in \(cluster.logDirectory)")
        if metrics != nil {
            let directory = "\(spec.outputDirectory)/prometheus-targets"
            let targets = try cluster.writeMetricsTargets(to: directory)
            Terminal.status("metrics: \(targets.values.joined().sorted().joined(separator: ", ")); Prometheus targets in \(directory) (put ops/prometheus.yml beside them)")
        }
        var lastLine = 0.0
        while coordinator.isRunning {
            if StopSignal.isRequested {
                Terminal.clearProgress()
                Terminal.status("stopping the cluster")
                cluster.stop()
                throw ExitCode(130)
            }
            Thread.sleep(forTimeInterval: 1)
            guard coordinator.isRunning, let status = try? StatusClient.fetch(coordinator: endpoint, keysDirectory: spec.cluster.plaintext ? nil : spec.cluster.keys, timeout: 2).status else { continue }
            let line = Run.progressLine(status)
            if Terminal.stderrIsTerminal {
                Terminal.progress(line)
            } else if monotonicSeconds() - lastLine > 10 {
                lastLine = monotonicSeconds()
                Terminal.status(line)
            }
        }
        Terminal.clearProgress()
        let finished = cluster.waitForAll(seconds: 30)
        if !finished { cluster.stop() }
        guard coordinator.terminationStatus == 0 else {
            let log = cluster.members.first { $0.name == "coordinator" }.map { cluster.tail($0) } ?? ""
            throw ValidationError("the cluster failed (coordinator exit \(coordinator.terminationStatus)); its log ends:\n\(log)")
        }
        for m in cluster.members where m.process.terminationStatus != 0 {
            Terminal.status("warning: \(m.name) exited with \(m.process.terminationStatus); see \(m.log)")
        }
    }

    static func progressLine(_ s: ClusterStatus) -> String {
        let student = s.workers.filter { $0.role == "student" }.min { ($0.epoch ?? 0, $0.samplesDone ?? 0) < ($1.epoch ?? 0, $1.samplesDone ?? 0) }
        let epoch = (student?.epoch ?? 0) + 1
        let last = s.epochResults.last(where: { $0.testAccuracy != nil })?.testAccuracy
        return "epoch \(min(epoch, s.epochs))/\(s.epochs) \(Terminal.bar(s.progress)) \(Int(s.progress * 100))% items \(s.itemsDone)/\(s.itemsTotal)"
            + (s.samplesPerSecond.map { String(format: " %.0f samples/s", $0) } ?? "")
            + (s.etaSeconds.map { String(format: " ETA %.0fs", $0) } ?? "")
            + (last.map { String(format: " test_acc %.4f", $0) } ?? "")
    }
}
