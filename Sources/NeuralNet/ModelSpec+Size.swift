import Compute
import Foundation

extension ModelSpec {
    /// Values the network holds (weights, biases, BatchNorm's scale, shift and running statistics), counted from the
    /// spec without allocating them: Int.max when the count overflows, nil when a shape does not work out (building
    /// the network says which).
    public var storedValues: Int? {
        var shape = inputShape
        var total = 0
        var overflowed = false
        func add(_ terms: Int...) -> Bool {
            for t in terms {
                let (sum, overflow) = total.addingReportingOverflow(t)
                if overflow { overflowed = true }
                total = overflow ? Int.max : sum
            }
            return true
        }
        func product(_ values: Int...) -> Int? {
            var p = 1
            for v in values {
                let (next, overflow) = p.multipliedReportingOverflow(by: v)
                if overflow { overflowed = true; return Int.max }
                p = next
            }
            return p
        }
        for stage in stages {
            switch stage {
            case let .conv(out, kernel, padding, stride, batchNorm):
                guard shape.count == 3 else { return nil }
                let g = ConvGeometry(batch: 1, channels: shape[0], height: shape[1], width: shape[2], kernel: kernel, stride: stride, padding: padding)
                guard g.outHeight > 0, g.outWidth > 0, let weights = product(out, shape[0], kernel, kernel),
                      add(weights, out, batchNorm ? 4 * out : 0) else { return nil }
                shape = [out, g.outHeight, g.outWidth]
            case let .maxPool(kernel):
                guard shape.count == 3, shape[1] >= kernel, shape[2] >= kernel else { return nil }
                shape = [shape[0], shape[1] / kernel, shape[2] / kernel]
            case .dropout:
                continue
            case let .hidden(out, batchNorm):
                guard let inputs = product(shape.reduce(1) { $0 &* $1 }), let weights = product(out, inputs),
                      add(weights, out, batchNorm ? 4 * out : 0) else { return nil }
                shape = [out]
            case let .classifier(classes):
                guard let weights = product(classes, shape.reduce(1) { $0 &* $1 }), add(weights, classes) else { return nil }
                shape = [classes]
            }
        }
        return overflowed ? Int.max : total
    }

    /// Why this machine cannot train the model (weights, gradients and two Adam moments at 4 bytes each must fit in
    /// its memory), or nil.
    public var memoryProblem: String? {
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard let values = storedValues else { return nil }
        let (bytes, overflow) = values.multipliedReportingOverflow(by: 16)
        guard !overflow else { return "\(text) has more parameters than this machine can count, let alone hold" }
        guard bytes <= memory else {
            return "\(text) has \(values) parameters: \(Self.gigabytes(bytes)) for its weights, gradients and optimizer state, more than this machine's \(Self.gigabytes(memory))"
        }
        return nil
    }

    private static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}
