/// Refused peer input, logged without letting a flood fill the disk: the first refusal of each kind is written at
/// once, later ones of that kind are counted and summarised in at most one line per `interval` seconds. The exact
/// counts are the metrics' (messages refused on the wire).
public final class RefusalLog {
    private struct Kind {
        var windowStart: Double
        var suppressed = 0
        var last = ""
    }

    private let log: DaemonLog
    private let interval: Double
    private var kinds: [String: Kind] = [:]

    public init(_ log: DaemonLog, interval: Double = 10) {
        self.log = log
        self.interval = interval
    }

    /// Logs (or counts) one refusal of `kind`, e.g. "a bad message on the data endpoint".
    public func refused(_ kind: String, _ detail: String, now: Double = monotonicSeconds()) {
        guard var entry = kinds[kind] else {
            kinds[kind] = Kind(windowStart: now)
            log.warning("refused \(kind): \(detail)")
            return
        }
        entry.suppressed += 1
        entry.last = detail
        if now - entry.windowStart >= interval {
            summarise(kind, entry)
            entry = Kind(windowStart: now)
        }
        kinds[kind] = entry
    }

    /// Writes the summaries whose window has ended (call it now and then), or every pending one with `all`.
    public func flush(all: Bool = false, now: Double = monotonicSeconds()) {
        for (kind, entry) in kinds where entry.suppressed > 0 && (all || now - entry.windowStart >= interval) {
            summarise(kind, entry)
            kinds[kind] = Kind(windowStart: now)
        }
    }

    private func summarise(_ kind: String, _ entry: Kind) {
        log.warning("refused \(entry.suppressed) more of \(kind) in the last \(Int(interval)) s (the last: \(entry.last))")
    }
}
