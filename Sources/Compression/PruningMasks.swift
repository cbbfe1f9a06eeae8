import Compute
import NeuralNet

/// Which weights survive pruning: one flag per element of every prunable tensor, keyed by the parameter's
/// checkpoint name. Prunable are the weights of Linear and Conv2d layers; biases and BatchNorm stay dense,
/// as in the pruning literature (they are a fraction of a percent of the parameters).
public struct PruningMasks: Equatable, Sendable {
    public var masks: [String: [Bool]]

    public init(masks: [String: [Bool]]) { self.masks = masks }

    /// Every weight kept.
    public static func dense(_ model: Network) -> PruningMasks {
        PruningMasks(masks: Dictionary(uniqueKeysWithValues: prunable(model).map { ($0.name, [Bool](repeating: true, count: $0.parameter.value.count)) }))
    }

    /// The prunable weights, in layer order, every Conv2d and Linear of the tree (inside blocks too).
    public static func prunable(_ model: Network) -> [(name: String, parameter: Parameter)] {
        model.namedModules.compactMap { path, layer in gemmParameters(layer).map { ("\(path).weight", $0.weight) } }
    }

    /// The masks of the nonzero weights: what a pruned checkpoint's zeros mean.
    public static func nonzero(_ model: Network) -> PruningMasks {
        PruningMasks(masks: Dictionary(uniqueKeysWithValues: prunable(model).map { ($0.name, $0.parameter.value.scalars.map { $0 != 0 }) }))
    }

    public var total: Int { masks.values.reduce(0) { $0 + $1.count } }
    public var kept: Int { masks.values.reduce(0) { $0 + $1.lazy.filter { $0 }.count } }
    /// The fraction of prunable weights removed.
    public var sparsity: Double { total == 0 ? 0 : 1 - Double(kept) / Double(total) }

    /// Zeroes the pruned weights (and their gradients, so optimizer moments of pruned weights stay still).
    public func apply(to model: Network) {
        for (name, parameter) in PruningMasks.prunable(model) {
            guard let mask = masks[name] else { continue }
            precondition(mask.count == parameter.value.count, "mask of \(name) has \(mask.count) flags for \(parameter.value.count) weights")
            parameter.value.scalars.withUnsafeMutableBufferPointer { w in
                for i in 0..<mask.count where !mask[i] { w[i] = 0 }
            }
        }
    }

    public enum Scope: Sendable { case layerwise, global }

    /// Keeps the highest-scoring weights so that `sparsity` of each layer (`.layerwise`) or of all prunable
    /// weights (`.global`) is removed. Weights already pruned in `within` stay pruned and count as removed.
    /// Ties break towards the earlier weight, so equal scores give the same mask every run.
    public static func select(scores: [String: [Float]], sparsity: Double, scope: Scope, within: PruningMasks) -> PruningMasks {
        precondition((0...1).contains(sparsity), "sparsity \(sparsity) outside 0...1")
        let groups: [[String]] = scope == .global ? [within.masks.keys.sorted()] : within.masks.keys.sorted().map { [$0] }
        var result = within
        for names in groups {
            let size = names.reduce(0) { $0 + within.masks[$1]!.count }
            let keep = Int((Double(size) * (1 - sparsity)).rounded())
            var candidates: [(layer: Int, index: Int, score: Float)] = []
            for (layer, name) in names.enumerated() {
                let mask = within.masks[name]!, score = scores[name]
                for i in mask.indices where mask[i] {
                    let s = score?[i] ?? .infinity
                    candidates.append((layer, i, s.isNaN ? -.infinity : s))
                }
            }
            candidates.sort { a, b in a.score != b.score ? a.score > b.score : (a.layer, a.index) < (b.layer, b.index) }
            for name in names { result.masks[name] = [Bool](repeating: false, count: within.masks[name]!.count) }
            for c in candidates.prefix(max(0, keep)) { result.masks[names[c.layer]]![c.index] = true }
        }
        return result
    }
}

/// The weight and bias of a Conv2d or Linear (seen through a quantization-aware wrapper); nil for other layers.
public func gemmParameters(_ layer: Layer) -> (weight: Parameter, bias: Parameter)? {
    if let linear = layer as? Linear { return (linear.weight, linear.bias) }
    if let conv = layer as? Conv2d { return (conv.weight, conv.bias) }
    return nil
}
