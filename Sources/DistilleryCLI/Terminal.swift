import Dispatch
import Foundation
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

func formatted(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
