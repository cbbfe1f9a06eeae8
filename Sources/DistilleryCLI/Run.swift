import ArgumentParser
import Monitoring
import Pipeline

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a whole distillation job on this machine: coordinator, teachers and students as local processes.",
        discussion: """
        Trains the teachers whose checkpoints are missing (on the job's augmentation),
        starts the coordinator, cluster.local_teachers teacher processes and one
        process per student replica on 127.0.0.1 over ZeroMQ TCP, shows their
        progress, trains the student alone when the job asks for that baseline, and
        prints the results table (also OUTPUT/results.md and results.json). Then the
        job's `prune:` and `quantize:` stages compress the student
        (OUTPUT/student-pruned.safetensors, student-int8.safetensors) with a table of
        accuracy, bytes on disk and latency, and a `report:` section runs the pruning
        sweep of `distillery report`. Logs: OUTPUT/logs/.

        Example:
          distillery run cluster/jobs/fashion-quick.yaml
        """
    )

    @Argument(help: "The job file (YAML).")
    var job: String

    @Option(help: "Where the coordinator listens (default: a free port on 127.0.0.1).")
    var bind: String = "tcp://127.0.0.1:*"

    @Flag(help: "Print the results as JSON on stdout.")
    var json = false

    @Option(help: "How progress goes to stderr: text, or json (one event a line).")
    var events: EventFormat = .text

    @Option(help: "Every daemon serves Prometheus metrics: the coordinator on HOST:PORT, teachers and students on the ports after it (port 0: free ones); targets in OUTPUT/prometheus-targets/ (default: the job's cluster.metrics).")
    var metrics: String?

    @OptionGroup var overrides: JobOverrideOptions

    func validate() throws {
        if let metrics { _ = try MetricsServer.parse(metrics) }
    }

    func run() throws {
        StopSignal.install()
        var run = try JobRun(jobFile: job, overrides: overrides.settings, control: Terminal.control(events: events, tablesOnStdout: !json))
        run.bind = bind
        run.metrics = metrics
        let results = try run.run()
        if json { try Terminal.printJSON(results) }
    }
}
