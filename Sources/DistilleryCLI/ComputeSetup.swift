import Compute

enum ComputeSetup {
    static func apply(threads: Int?) {
        ComputeThreads.set(threads ?? ComputeThreads.defaultCount)
    }
}
