import ArgumentParser
import Cluster
import Dispatch
import Foundation
import Pipeline
import Synchronization

/// Output helpers: a live progress bar on a terminal, plain lines otherwise, JSON for scripts.
enum Terminal {
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// One line on stdout, written at once (print's buffer would hold epoch lines back in a pipe).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func status(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    /// Redraws one line in place on stderr.
    static func progress(_ line: String) {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
    }

    static func clearProgress() {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    static func bar(_ fraction: Double, width: Int = 30) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// SIGINT and SIGTERM ask long work to stop at the next safe point instead of killing the process.
enum StopSignal {
    private static let requested = Atomic<Bool>(false)
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Call once from the main thread before long work.
    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { requested.store(true, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
    }
}

/// How a command shows a pipeline's events on stderr: text (lines, a bar on a terminal) or one JSON object a line.
enum EventFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Renders pipeline events: status lines and warnings on stderr; progress as a bar redrawn in place on a terminal,
/// a line every 10 s in a log; tables on stdout unless the command prints JSON there instead.
final class EventRenderer: Sendable {
    let format: EventFormat
    let tablesOnStdout: Bool
    private let lastProgressLine = Mutex<Double>(-.infinity)

    init(format: EventFormat, tablesOnStdout: Bool) {
        self.format = format
        self.tablesOnStdout = tablesOnStdout
    }

    func render(_ event: PipelineEvent) {
        if case let .table(text) = event {
            if tablesOnStdout { Terminal.line(text) }
            return
        }
        if format == .json { return Terminal.status(EventRenderer.json(event)) }
        switch event {
        case let .status(line): Terminal.status(line)
        case let .warning(line): Terminal.status("warning: \(line)")
        case let .progress(task, fraction, detail):
            let line = "\(task) \(Terminal.bar(fraction)) \(Int(fraction * 100))% \(detail)"
            if Terminal.stderrIsTerminal { return Terminal.progress(line) }
            let now = monotonicSeconds()
            let due = lastProgressLine.withLock { last in
                guard now - last >= 10 else { return false }
                last = now
                return true
            }
            if due { Terminal.status(line) }
        case .progressEnded: Terminal.clearProgress()
        case .table: break
        }
    }

    static func json(_ event: PipelineEvent) -> String {
        let object: [String: Any]
        switch event {
        case let .status(line): object = ["event": "status", "message": line]
        case let .warning(line): object = ["event": "warning", "message": line]
        case let .progress(task, fraction, detail): object = ["event": "progress", "task": task, "fraction": fraction, "detail": detail]
        case let .progressEnded(task): object = ["event": "progress_ended", "task": task]
        case let .table(text): object = ["event": "table", "markdown": text]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension Terminal {
    /// What pipeline work reports to and asks of this command: events rendered here, stops from `StopSignal`.
    static func control(events format: EventFormat = .text, tablesOnStdout: Bool = true) -> RunControl {
        let renderer = EventRenderer(format: format, tablesOnStdout: tablesOnStdout)
        return RunControl(emit: { renderer.render($0) }, shouldStop: { StopSignal.isRequested })
    }
}
