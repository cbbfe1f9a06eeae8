import Foundation

/// One line per event on stderr, timestamped and tagged with the daemon, as journald and Slurm's
/// output files keep them.
public struct DaemonLog: Sendable {
    public let tag: String
    public init(_ tag: String) { self.tag = tag }

    public func info(_ message: String) { write("info", message) }
    public func warning(_ message: String) { write("warning", message) }
    public func error(_ message: String) { write("error", message) }

    private func write(_ level: String, _ message: String) {
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        FileHandle.standardError.write(Data("\(stamp) \(tag) \(level): \(message)\n".utf8))
    }
}

/// Seconds on a monotonic clock, for leases and rates.
public func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
