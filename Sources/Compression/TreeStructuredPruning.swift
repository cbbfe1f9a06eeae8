import NeuralNet

/// Structured pruning of a module tree. Channels live in "spaces": a Conv2d or Linear makes a new one, BatchNorm,
/// activations and pools keep it, a depthwise Conv2d maps each channel to itself (its input and output are one
/// space), and an add ties the spaces it adds into one group, so a residual stream loses the same channels in every
/// block that writes or reads it. Each space keeps round((1 - sparsity) * width) channels (at least one), those with
/// the largest L1 norm summed over every row that writes them (Li et al. 2017); the input and the class scores keep
/// all of theirs, as does a transformer's residual stream (embeddings, LayerNorms and attention read it whole), so a
/// GPT loses MLP hidden units and, scored the same way over their query, key and value rows, attention heads. The smaller tree is rebuilt and the surviving weights copied into it.
enum TreeStructuredPruning {
    /// What one module reads and writes, by raw space id (resolved through the union-find afterwards).
    private struct Use {
        var input: Int, output: Int
        /// Values per channel of a Linear's input (a flattened (c, h, w) has h * w).
        var plane = 1
        var depthwise = false
    }

    private final class Analysis {
        var parent: [Int] = []
        var width: [Int] = []
        var frozen: Set<Int> = []
        var uses: [String: Use] = [:]
        /// Attention modules by path: their heads are pruned as units, the heads kept filled in by `prune`.
        var attentions: [String: (heads: Int, width: Int)] = [:]
        var keptHeads: [String: [Int]] = [:]

        func make(_ channels: Int) -> Int { parent.append(parent.count); width.append(channels); return parent.count - 1 }
        func find(_ s: Int) -> Int { parent[s] == s ? s : find(parent[s]) }
        func union(_ a: Int, _ b: Int) { let (ra, rb) = (find(a), find(b)); if ra != rb { parent[rb] = ra } }
    }

    /// A value flowing through the tree: its channel space, its per-sample shape, values per channel once flattened.
    private struct Value { var space: Int, shape: [Int], plane: Int }

    static func prune(_ model: Network, sparsity: Double) throws -> Network {
        let analysis = Analysis()
        let input = Value(space: analysis.make(model.inputShape[0]), shape: model.inputShape, plane: 1)
        analysis.frozen.insert(input.space)
        let output = try walk(model.architecture, path: "", value: input, analysis)
        analysis.frozen.insert(output.space)
        let frozen = Set(analysis.frozen.map(analysis.find))

        // Scores: the L1 norm of every row writing into a space.
        let layers = Dictionary(uniqueKeysWithValues: model.namedModules.map { ($0.path, $0.layer) })
        var scores: [Int: [Float]] = [:]
        for (path, use) in analysis.uses {
            guard let weight = layers[path].flatMap(gemmParameters)?.weight else { continue }
            let space = analysis.find(use.output), rows = weight.value.shape[0], width = weight.value.count / rows
            var score = scores[space] ?? [Float](repeating: 0, count: rows)
            for r in 0..<rows { score[r] += weight.value.scalars[(r * width)..<((r + 1) * width)].reduce(0) { $0 + abs($1) } }
            scores[space] = score
        }
        var kept: [Int: [Int]] = [:]
        for (space, score) in scores {
            let all = Array(score.indices)
            guard !frozen.contains(space) else { kept[space] = all; continue }
            let count = max(1, Int((Double(score.count) * (1 - sparsity)).rounded()))
            kept[space] = Array(all.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(count)).sorted()
        }
        func keep(_ space: Int) -> [Int] { kept[analysis.find(space)] ?? Array(0..<analysis.width[space]) }
        // A head's score: the L1 norm of its query, key and value rows.
        for (path, shape) in analysis.attentions {
            guard let attention = layers[path] as? CausalSelfAttention else { continue }
            let weights = attention.qkv.weight.value.scalars, d = attention.features, inner = attention.inner
            let score = (0..<shape.heads).map { head in
                (0..<3).reduce(Float(0)) { sum, part in
                    let first = (part * inner + head * shape.width) * d
                    return sum + weights[first..<(first + shape.width * d)].reduce(0) { $0 + abs($1) }
                }
            }
            let count = max(1, Int((Double(shape.heads) * (1 - sparsity)).rounded()))
            analysis.keptHeads[path] = Array(score.indices.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(count)).sorted()
        }

        let smaller = try Network(model.spec, architecture: resize(model.architecture, path: "", analysis, keep), seed: 0)
        // What keeps its shape (embeddings, LayerNorms, attention, a frozen stream's layers) comes over as it is;
        // the resized layers are then cut from their originals below.
        let sources = Dictionary(model.stateEntries.map { ($0.name, $0.parameter) }, uniquingKeysWith: { a, _ in a })
        for (name, parameter) in smaller.stateEntries {
            if let source = sources[name], source.value.shape == parameter.value.shape { parameter.value = source.value }
        }
        let targets = Dictionary(uniqueKeysWithValues: smaller.namedModules.map { ($0.path, $0.layer) })
        for (path, use) in analysis.uses {
            guard let source = layers[path], let target = targets[path] else { continue }
            let outputs = keep(use.output), inputs = keep(use.input)
            if let norm = source as? BatchNorm, let destination = target as? BatchNorm {
                for (from, to) in [(norm.gamma, destination.gamma), (norm.beta, destination.beta),
                                   (norm.runningMean, destination.runningMean), (norm.runningVariance, destination.runningVariance)] {
                    to.value.scalars = outputs.map { from.value.scalars[$0] }
                }
                destination.batchesTracked = norm.batchesTracked
            } else if let (weight, bias) = gemmParameters(source), let (toWeight, toBias) = gemmParameters(target) {
                // Columns per input channel: k * k for a Conv2d (one channel per group when depthwise), plane for a Linear.
                let perChannel = (source as? Conv2d).map { $0.kernel * $0.kernel } ?? use.plane
                let channels = use.depthwise ? [0] : inputs
                let columns = channels.flatMap { c in (0..<perChannel).map { c * perChannel + $0 } }
                StructuredPruning.copy(weight, into: toWeight, rows: outputs, columns: columns)
                toBias.value.scalars = outputs.map { bias.value.scalars[$0] }
            }
        }
        for (path, heads) in analysis.keptHeads {
            guard let source = layers[path] as? CausalSelfAttention, let target = targets[path] as? CausalSelfAttention else { continue }
            let width = source.headFeatures
            let columns = heads.flatMap { head in (0..<width).map { head * width + $0 } }
            let rows = (0..<3).flatMap { part in columns.map { part * source.inner + $0 } }
            StructuredPruning.copy(source.qkv.weight, into: target.qkv.weight, rows: rows, columns: Array(0..<source.features))
            target.qkv.bias.value.scalars = rows.map { source.qkv.bias.value.scalars[$0] }
            StructuredPruning.copy(source.proj.weight, into: target.proj.weight, rows: Array(0..<source.features), columns: columns)
            target.proj.bias.value = source.proj.bias.value
        }
        return smaller
    }

    private static func walk(_ module: ModuleDescription, path: String, value: Value, _ a: Analysis) throws -> Value {
        func join(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        let shape = try module.outputShape(for: value.shape)
        switch module {
        case let .conv2d(i, o, _, _, _, groups):
            if groups == 1 {
                let out = a.make(o)
                a.uses[path] = Use(input: value.space, output: out)
                return Value(space: out, shape: shape, plane: 1)
            }
            guard groups == i, i == o else {
                throw NeuralNetError("structured pruning handles Conv2d with 1 group or depthwise; '\(path)' has \(groups) groups for \(i) -> \(o) channels")
            }
            a.uses[path] = Use(input: value.space, output: value.space, depthwise: true)
            return Value(space: value.space, shape: shape, plane: 1)
        case let .linear(_, o):
            let out = a.make(o)
            a.uses[path] = Use(input: value.space, output: out, plane: value.plane)
            return Value(space: out, shape: shape, plane: 1)
        case .batchNorm:
            a.uses[path] = Use(input: value.space, output: value.space)
            return Value(space: value.space, shape: shape, plane: value.plane)
        case .flatten:
            return Value(space: value.space, shape: shape, plane: value.plane * value.shape.dropFirst().reduce(1, *))
        case .relu, .relu6, .silu, .gelu, .maxPool, .avgPool, .globalAvgPool, .dropout:
            return Value(space: value.space, shape: shape, plane: value.plane)
        case let .embedding(_, features):
            // A transformer's residual stream: LayerNorms, attention and the head read it whole, so it keeps its width.
            let stream = a.make(features)
            a.frozen.insert(stream)
            return Value(space: stream, shape: shape, plane: 1)
        case let .attention(features, heads, width):
            a.frozen.insert(value.space)
            a.attentions[path] = (heads, width ?? features / heads)
            return Value(space: value.space, shape: shape, plane: value.plane)
        case .layerNorm, .positionalEmbedding:
            a.frozen.insert(value.space)
            return Value(space: value.space, shape: shape, plane: value.plane)
        case let .outputProjection(_, count, _):
            a.frozen.insert(value.space)
            let scores = a.make(count)
            a.frozen.insert(scores)
            return Value(space: scores, shape: shape, plane: 1)
        case let .sequential(children, _):
            return try children.reduce(value) { v, child in try walk(child.module, path: join(child.name), value: v, a) }
        case let .graph(children, nodes, _):
            let byName = Dictionary(children.map { ($0.name, $0.module) }, uniquingKeysWith: { x, _ in x })
            var values = [Graph.input: value]
            for node in nodes {
                switch node {
                case let .call(child, from, output):
                    values[output] = try walk(byName[child]!, path: join(child), value: values[from]!, a)
                case let .add(inputs, output):
                    let first = values[inputs[0]]!
                    for other in inputs.dropFirst() { a.union(first.space, values[other]!.space) }
                    values[output] = first
                }
            }
            return values[nodes.last!.output]!
        }
    }

    /// The same tree with every width set to the channels kept.
    private static func resize(_ module: ModuleDescription, path: String, _ a: Analysis, _ keep: (Int) -> [Int]) -> ModuleDescription {
        func join(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        func children(_ list: [ModuleDescription.Child]) -> [ModuleDescription.Child] {
            list.map { .init($0.name, resize($0.module, path: join($0.name), a, keep)) }
        }
        let use = a.uses[path]
        switch module {
        case let .conv2d(_, _, k, s, p, _):
            guard let use else { return module }
            let (i, o) = (keep(use.input).count, keep(use.output).count)
            return .conv2d(inChannels: i, outChannels: o, kernel: k, stride: s, padding: p, groups: use.depthwise ? o : 1)
        case .linear:
            guard let use else { return module }
            return .linear(inFeatures: keep(use.input).count * use.plane, outFeatures: keep(use.output).count)
        case .batchNorm:
            guard let use else { return module }
            return .batchNorm(features: keep(use.output).count)
        case let .attention(features, _, _):
            guard let heads = a.keptHeads[path], let shape = a.attentions[path] else { return module }
            return .attention(features: features, heads: heads.count, headFeatures: shape.width)
        case let .sequential(list, label): return .sequential(children(list), label: label)
        case let .graph(list, nodes, label): return .graph(children(list), nodes: nodes, label: label)
        default: return module
        }
    }
}
