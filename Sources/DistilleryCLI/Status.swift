import ArgumentParser
import Cluster
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running job: workers, leases, progress, throughput and ETA.")

    @Option(help: "The coordinator's address, e.g. tcp://10.0.0.1:5555.")
    var coordinator: String

    @Option(help: "CURVE keys directory, for a job without cluster.plaintext.")
    var keys: String?

    @Flag(help: "Print the coordinator's status as JSON.")
    var json = false

    @Option(help: "Refresh every N seconds until interrupted.")
    var watch: Double?

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Double = 5

    func run() throws {
        StopSignal.install()
        repeat {
            let (text, status) = try StatusClient.fetch(coordinator: coordinator, keysDirectory: keys, timeout: timeout)
            if json {
                Terminal.line(text)
            } else {
                if watch != nil && Terminal.stderrIsTerminal { FileHandle.standardOutput.write(Data("\u{1B}[2J\u{1B}[H".utf8)) }
                Terminal.line(Status.render(status))
            }
            if let watch { Thread.sleep(forTimeInterval: watch) }
        } while watch != nil && !StopSignal.isRequested
    }

    static func render(_ s: ClusterStatus) -> String {
        var lines = ["job \(s.job): \(s.state), \(String(format: "%.1f", s.progress * 100)) % of \(s.epochs) epochs; items \(s.itemsDone)/\(s.itemsTotal) done, \(s.itemsHeld) held"
            + (s.samplesPerSecond.map { String(format: "; %.0f samples/s", $0) } ?? "")
            + (s.etaSeconds.map { String(format: "; ETA %.0f s", $0) } ?? "")]
        let table = MarkdownTable(
            header: ["worker", "role", "name", "members / replica", "lease ms", "items done", "in flight", "epoch", "loss", "samples/s"],
            rows: s.workers.map { w in
                [w.id, w.role, w.name, w.replica.map { "replica \($0)" } ?? w.members.joined(separator: ","), "\(w.leaseRemainingMs)",
                 "\(w.itemsDone)", "\(w.inFlight)", w.epoch.map { "\($0 + 1)" } ?? "", w.loss.map { String(format: "%.4f", $0) } ?? "",
                 w.samplesPerSecond.map { String(format: "%.0f", $0) } ?? ""]
            },
            rightAligned: [4, 5, 6, 7, 8, 9])
        lines.append(table.text)
        return lines.joined(separator: "\n")
    }
}
