import ArgumentParser
import Cluster
import Foundation
import Pipeline

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running job: workers, leases, progress, throughput and ETA.")

    @Option(help: "The coordinator's address, e.g. tcp://10.0.0.1:5555.")
    var coordinator: String

    @Option(help: "CURVE keys directory, for a job without cluster.plaintext.")
    var keys: String?

    @Option(help: "Whose key pair in --keys to present (an operator key).")
    var key: String = "operator"

    @Flag(help: "Print the coordinator's status as JSON.")
    var json = false

    @Option(help: "Refresh every N seconds until interrupted.")
    var watch: Double?

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Double = 5

    func run() throws {
        StopSignal.install()
        let redraw = watch != nil && !json && isatty(STDOUT_FILENO) == 1
        var answered = false, silent = 0
        repeat {
            do {
                let (text, status) = try StatusClient.fetch(coordinator: coordinator, keysDirectory: keys, keyName: key, timeout: timeout)
                if json {
                    Terminal.line(text)
                } else {
                    // Home and clear below: the table is redrawn in place instead of scrolling.
                    if redraw { FileHandle.standardOutput.write(Data("\u{1B}[H\u{1B}[J".utf8)) }
                    Terminal.line(Status.render(status))
                }
                answered = true
                silent = 0
                // A watch ends with the job.
                if watch != nil && status.state != "running" { return }
            } catch {
                // A coordinator restarting is not the end of a watch; one gone for five refreshes is.
                guard watch != nil else { throw error }
                silent += 1
                if answered && silent >= 5 {
                    Terminal.status("the coordinator at \(coordinator) stopped answering: the job has ended or it is down (its state directory tells which)")
                    throw ExitCode(1)
                }
                Terminal.status("no answer from \(coordinator) (\(error)); retrying")
            }
            if let watch { Thread.sleep(forTimeInterval: watch) }
        } while watch != nil && !StopSignal.isRequested
    }

    static func render(_ s: ClusterStatus) -> String {
        let epoch = s.workers.filter { $0.role == "student" }.compactMap(\.epoch).min().map { min($0 + 1, s.epochs) }
        var summary = "job \(s.job): \(s.state)  \(Terminal.bar(s.progress, width: 24)) \(String(format: "%.1f", s.progress * 100)) %"
            + (epoch.map { "  epoch \($0)/\(s.epochs)" } ?? "  \(s.epochs) epochs")
            + (s.samplesPerSecond.map { String(format: "  %.0f samples/s", $0) } ?? "")
            + (s.etaSeconds.map { "  ETA \(duration($0))" } ?? "")
        summary += "\nitems \(s.itemsDone)/\(s.itemsTotal) done, \(s.itemsHeld) held, \(s.duplicateReceipts) duplicate deliveries; up \(duration(s.uptimeSeconds))"
        if let last = s.epochResults.last(where: { $0.testAccuracy != nil }), let accuracy = last.testAccuracy {
            summary += String(format: "; test accuracy %.4f after epoch %d", accuracy, last.epoch + 1)
        }
        let table = MarkdownTable(
            header: ["worker", "role", "name", "members / replica", "lease ms", "items done", "in flight", "epoch", "loss", "samples/s"],
            rows: s.workers.map { w in
                [w.id.escapedForLog, w.role.escapedForLog, w.name.escapedForLog, w.replica.map { "replica \($0)" } ?? w.members.joined(separator: ","), "\(w.leaseRemainingMs)",
                 "\(w.itemsDone)", "\(w.inFlight)", w.epoch.map { "\($0 + 1)" } ?? "", w.loss.map { String(format: "%.4f", $0) } ?? "",
                 w.samplesPerSecond.map { String(format: "%.0f", $0) } ?? ""]
            },
            rightAligned: [4, 5, 6, 7, 8, 9])
        return summary + "\n" + table.text
    }

    /// 75 -> "1m15s", 3725 -> "1h02m".
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
