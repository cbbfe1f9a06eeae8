import Foundation

extension ModelSpec {
    /// Values the network holds (weights, biases, BatchNorm's scale, shift and running statistics), counted from its
    /// module tree without allocating them; Int.max when the count overflows.
    public var storedValues: Int { architecture.storedValues }

    /// Why this machine cannot train the model (weights, gradients and two Adam moments at 4 bytes each must fit in
    /// its memory), or nil.
    public var memoryProblem: String? { Self.memoryProblem(text, values: storedValues) }

    /// The same for a model of `values` stored values described by `text`.
    static func memoryProblem(_ text: String, values: Int) -> String? {
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let (bytes, overflow) = values.multipliedReportingOverflow(by: 16)
        guard !overflow, values < Int.max else { return "\(text) has more parameters than this machine can count, let alone hold" }
        guard bytes <= memory else {
            return "\(text) has \(values) parameters: \(Self.gigabytes(bytes)) for its weights, gradients and optimizer state, more than this machine's \(Self.gigabytes(memory))"
        }
        return nil
    }

    private static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}
