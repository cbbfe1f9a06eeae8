import Compute
import NeuralNet

/// Structured pruning: removes whole output channels of each Conv2d and whole neurons of each hidden Linear, those
/// with the smallest L1 weight norm (Li et al. 2017), and builds the smaller network, so the dense model itself
/// shrinks and runs faster. The classifier keeps every class. Each layer keeps round((1 - sparsity) * width) units,
/// at least one. Trees (residual and inverted-residual blocks) go through `TreeStructuredPruning`, which prunes the
/// channels an add ties together as one group.
public enum StructuredPruning {
    public static func prune(_ model: Network, sparsity: Double) throws -> Network {
        guard model.spec.isChain, model.architecture == model.spec.architecture else {
            return try TreeStructuredPruning.prune(model, sparsity: sparsity)
        }
        var keep: [Int: [Int]] = [:]  // layer index -> kept output units, ascending
        for (index, layer) in model.layers.enumerated() {
            guard let weight = gemmParameters(layer)?.weight, index != lastGemm(model) else { continue }
            let rows = weight.value.shape[0], width = weight.value.count / rows
            let norms = (0..<rows).map { r in weight.value.scalars[(r * width)..<((r + 1) * width)].reduce(0) { $0 + abs($1) } }
            let count = max(1, Int((Double(rows) * (1 - sparsity)).rounded()))
            keep[index] = Array((0..<rows).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }.prefix(count)).sorted()
        }
        var widths = keep.keys.sorted().map { keep[$0]!.count }.makeIterator()
        let stages = model.spec.stages.map { stage -> ModelSpec.Stage in
            switch stage {
            case let .conv(_, kernel, padding, stride, bn): return .conv(out: widths.next()!, kernel: kernel, padding: padding, stride: stride, batchNorm: bn)
            case let .hidden(_, bn): return .hidden(out: widths.next()!, batchNorm: bn)
            default: return stage
            }
        }
        let smaller = try Network(try ModelSpec(inputShape: model.inputShape, stages: stages), seed: 0)
        // Walk both networks in step, carrying which input units of the next layer survive.
        var inputs: [Int]? = nil  // nil: all
        var channelPlane = 1      // values per channel once a conv output is flattened
        for (index, (source, target)) in zip(model.layers, smaller.layers).enumerated() {
            if let conv = source as? Conv2d, let destination = target as? Conv2d {
                let outputs = keep[index] ?? Array(0..<conv.outChannels)
                let columns = (inputs ?? Array(0..<conv.inChannels)).flatMap { c in (0..<(conv.kernel * conv.kernel)).map { c * conv.kernel * conv.kernel + $0 } }
                copy(conv.weight, into: destination.weight, rows: outputs, columns: columns)
                destination.bias.value.scalars = outputs.map { conv.bias.value.scalars[$0] }
                inputs = outputs
            } else if let linear = source as? Linear, let destination = target as? Linear {
                let outputs = keep[index] ?? Array(0..<linear.outFeatures)
                let columns = (inputs ?? Array(0..<(linear.inFeatures / channelPlane))).flatMap { c in (0..<channelPlane).map { c * channelPlane + $0 } }
                copy(linear.weight, into: destination.weight, rows: outputs, columns: columns)
                destination.bias.value.scalars = outputs.map { linear.bias.value.scalars[$0] }
                inputs = outputs
                channelPlane = 1
            } else if let norm = source as? BatchNorm, let destination = target as? BatchNorm, let units = inputs {
                for (from, to) in [(norm.gamma, destination.gamma), (norm.beta, destination.beta),
                                   (norm.runningMean, destination.runningMean), (norm.runningVariance, destination.runningVariance)] {
                    to.value.scalars = units.map { from.value.scalars[$0] }
                }
            } else if source is Flatten, let units = inputs, let conv = lastConv(model, before: index) {
                let total = try model.layers[0...index].reduce(model.inputShape) { shape, layer in try layer.outputShape(for: shape) }
                channelPlane = total.reduce(1, *) / conv.outChannels
                inputs = units
            }
        }
        return smaller
    }

    private static func lastGemm(_ model: Network) -> Int? {
        model.layers.lastIndex { gemmParameters($0) != nil }
    }

    private static func lastConv(_ model: Network, before index: Int) -> Conv2d? {
        model.layers[..<index].last { $0 is Conv2d } as? Conv2d
    }

    /// `target` = `source` at the given rows and columns (of its rank-2 view).
    static func copy(_ source: Parameter, into target: Parameter, rows: [Int], columns: [Int]) {
        let width = source.value.count / source.value.shape[0]
        var values: [Float] = []
        values.reserveCapacity(rows.count * columns.count)
        for r in rows { for c in columns { values.append(source.value.scalars[r * width + c]) } }
        precondition(values.count == target.value.count, "structured copy: \(values.count) values for \(target.value.shape)")
        target.value.scalars = values
    }
}
