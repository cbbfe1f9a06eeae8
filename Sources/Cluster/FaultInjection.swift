import Foundation

/// Failpoints for the fault suite (in the manner of FoundationDB's and TiKV's): conditions that are hard to produce
/// on demand, switched on by environment variables that no configuration sets. Each is read in exactly one place.
enum FaultInjection {
    /// DISTILLERY_FAULT_SLOW_LOAD_MS: a worker's loading (data set, models) takes this much longer, as on a machine
    /// with a slow shared file system.
    static func delayLoading() { sleep(milliseconds: "DISTILLERY_FAULT_SLOW_LOAD_MS") }

    /// DISTILLERY_FAULT_SLOW_COMPUTE_MS: each teacher batch (one work item) and each student evaluation takes this
    /// much longer, as a big model on a slow machine.
    static func delayCompute() { sleep(milliseconds: "DISTILLERY_FAULT_SLOW_COMPUTE_MS") }

    /// Sleeps as many milliseconds as the environment variable says (none when it is unset or not positive).
    private static func sleep(milliseconds variable: String) {
        guard let text = ProcessInfo.processInfo.environment[variable], let ms = Double(text), ms > 0 else { return }
        Thread.sleep(forTimeInterval: ms / 1000)
    }
}
