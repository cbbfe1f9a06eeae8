import CDNNL
import Foundation

/// The compute thread count. oneDNN's OpenMP threads collapse when cores are oversubscribed,
/// so processes sharing a machine must split the cores between them.
public enum ComputeThreads {
    /// `DISTILLERY_THREADS` when set, else every core this process may use.
    public static var defaultCount: Int {
        if let s = ProcessInfo.processInfo.environment["DISTILLERY_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Sets the thread count and flushes denormals to zero; call before the first computation,
    /// so the OpenMP threads, created later, inherit the floating-point mode.
    public static func set(_ count: Int) {
        precondition(count > 0, "thread count must be positive")
        cdnnl_flush_denormals()
        cdnnl_keep_large_allocations()
        cdnnl_set_num_threads(Int32(count))
    }

    public static var current: Int { Int(cdnnl_max_threads()) }

    /// oneDNN's version, e.g. "2.6.3".
    public static var backendVersion: String {
        let v = Int(cdnnl_version())
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }
}
