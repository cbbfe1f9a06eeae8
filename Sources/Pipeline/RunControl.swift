/// What pipeline work says while it runs. The command line renders these (a redrawn bar on a terminal, lines in a
/// log, JSON lines for scripts); tests and other programs collect them.
public enum PipelineEvent: Sendable, Equatable {
    /// A step begins or reports: one line in a log.
    case status(String)
    /// Where long work stands, redrawn in place: `fraction` of `task` done, `detail` its figures.
    case progress(task: String, fraction: Double, detail: String)
    /// The progress of `task` is over (a terminal clears its line).
    case progressEnded(task: String)
    /// Something went wrong that does not stop the run.
    case warning(String)
    /// A finished results table (markdown), for standard output.
    case table(String)
}

/// How a pipeline run talks to whoever started it: events out, a stop request (SIGINT, SIGTERM) in.
public struct RunControl: Sendable {
    public var emit: @Sendable (PipelineEvent) -> Void
    public var shouldStop: @Sendable () -> Bool

    public init(emit: @escaping @Sendable (PipelineEvent) -> Void, shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.emit = emit
        self.shouldStop = shouldStop
    }

    /// Says nothing and never stops.
    public static let silent = RunControl(emit: { _ in })

    public func status(_ line: String) { emit(.status(line)) }

    /// Throws `PipelineError.stopped` once a stop was asked for: the checkpoint between steps.
    public func checkStop() throws {
        if shouldStop() { throw PipelineError.stopped }
    }
}

/// Why a pipeline run ended early. The command line maps these to exit codes (`exitCode`).
public enum PipelineError: Error, CustomStringConvertible, Equatable {
    /// A stop was asked for (SIGINT or SIGTERM); what was finished is on disk.
    case stopped
    /// The coordinator exited before it listened, or never said where; its log's last lines.
    case coordinatorDidNotStart(log: String)
    case coordinatorSilent(seconds: Int)
    /// The coordinator ended with a failure status.
    case clusterFailed(exitStatus: Int32, log: String)
    /// A daemon started with --metrics that never said where it serves them.
    case metricsNotReported(daemon: String, log: String)
    /// A step was given a file it cannot work on (a quantized model to prune, a model that cannot read the data).
    case unsuitableInput(String)
    /// Work that could not be done, and why.
    case failed(String)

    public var description: String {
        switch self {
        case .stopped: return "stopped on request; finished steps are on disk"
        case let .coordinatorDidNotStart(log): return "the coordinator did not start:\n\(log)"
        case let .coordinatorSilent(seconds): return "the coordinator did not report its endpoint within \(seconds) s"
        case let .clusterFailed(status, log): return "the cluster failed (coordinator exit \(status)); its log ends:\n\(log)"
        case let .metricsNotReported(daemon, log): return "\(daemon) did not report its metrics endpoint; its log ends:\n\(log)"
        case let .unsuitableInput(problem), let .failed(problem): return problem
        }
    }

    /// 130 for a stop (as a shell reports SIGINT), 1 for a failure.
    public var exitCode: Int32 { self == .stopped ? 130 : 1 }
}
