import Foundation

/// Failpoints for the fault suite (in the manner of FoundationDB's and TiKV's): conditions that are hard to produce
/// on demand, switched on by environment variables that no configuration sets. Each is read in exactly one place.
enum FaultInjection {
    /// DISTILLERY_FAULT_SLOW_LOAD_MS: a worker's loading (data set, models) takes this much longer, as on a machine
    /// with a slow shared file system.
    static var slowLoad: Double {
        guard let text = ProcessInfo.processInfo.environment["DISTILLERY_FAULT_SLOW_LOAD_MS"], let ms = Double(text), ms > 0 else { return 0 }
        return ms / 1000
    }

    static func delayLoading() {
        let seconds = slowLoad
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
    }

    /// DISTILLERY_FAULT_SLOW_COMPUTE_MS: each teacher batch (one work item) and each student evaluation takes this
    /// much longer, as a big model on a slow machine.
    static var slowCompute: Double {
        guard let text = ProcessInfo.processInfo.environment["DISTILLERY_FAULT_SLOW_COMPUTE_MS"], let ms = Double(text), ms > 0 else { return 0 }
        return ms / 1000
    }

    static func delayCompute() {
        let seconds = slowCompute
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
    }
}
