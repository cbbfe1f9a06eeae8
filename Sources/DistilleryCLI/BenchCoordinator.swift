import ArgumentParser
import Foundation
import Pipeline

struct BenchCoordinator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Load-test a coordinator: many simulated workers speaking the real protocol.",
        discussion: """
        Starts `distillery coordinator` as its own process on a synthetic job (tiny
        shards, so assignments come fast), then --workers simulated teachers and one
        simulated student in this process, on one thread: each teacher asks for one
        item at a time and holds it --work-ms (its compute time; 0 floods the
        coordinator) before reporting it done; the student acknowledges every item, so
        the coordinator records every receipt in its SQLite state as in a real job.
        Reports the assignment latency (from a work request to its assignment: median,
        99th percentile, maximum), assignments per second and the coordinator's CPU
        time per worker. The issue's target: p99 under 10 ms at 200 workers.
        """
    )

    @Option(help: "Simulated teacher workers.")
    var workers = 200

    @Option(help: "Seconds of measurement, after every worker has joined.")
    var seconds = 10.0

    @Option(help: "Milliseconds a simulated teacher holds each item, as if computing its soft targets.")
    var workMs = 100.0

    @Option(help: "Samples per shard of the synthetic job.")
    var shardSize = 10

    @Flag(help: "Print as JSON.")
    var json = false

    func validate() throws {
        guard workers >= 1, seconds > 0, shardSize >= 1, workMs >= 0 else {
            throw ValidationError("--workers, --seconds and --shard-size must be positive, --work-ms not negative")
        }
    }

    func run() throws {
        let bench = CoordinatorLoadBench(workers: workers, seconds: seconds, workMilliseconds: workMs, shardSize: shardSize,
                                         control: Terminal.control(tablesOnStdout: !json))
        let summary = try bench.run()
        if json { try Terminal.printJSON(summary); return }
        Terminal.line(String(format: "%d workers (%.0f ms per item), %.1f s: %d assignments (%.0f/s); latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; coordinator CPU %.1f %% (%.3f %% per worker); %d errors",
                             workers, workMs, summary.seconds, summary.assignments, summary.assignmentsPerSecond, summary.p50Milliseconds,
                             summary.p99Milliseconds, summary.maxMilliseconds, summary.coordinatorCPUPercent,
                             summary.coordinatorCPUPercentPerWorker, summary.errors))
    }
}
