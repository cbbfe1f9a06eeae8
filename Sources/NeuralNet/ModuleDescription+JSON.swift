import Foundation

/// The stored form of a module tree: one JSON object per module, `{"type": "conv2d", "in": 16, ...}`, containers with
/// their children in order and a graph with its nodes (`{"call": "conv1", "input": "input", "output": "a"}`,
/// `{"add": ["a", "b"], "output": "y"}`).
extension ModuleDescription: Codable {
    private enum Key: String, CodingKey {
        case type, `in`, out, kernel, stride, padding, groups, features, approximate, rate, label, children, nodes
        case count, context, heads, tied
        case headFeatures = "head_features"
    }

    private struct NamedChild: Codable {
        var name: String
        var module: ModuleDescription
    }

    private struct StoredNode: Codable {
        var call: String?
        var input: String?
        var add: [String]?
        var output: String
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case let .linear(i, o):
            try c.encode("linear", forKey: .type); try c.encode(i, forKey: .in); try c.encode(o, forKey: .out)
        case let .conv2d(i, o, k, s, p, g):
            try c.encode("conv2d", forKey: .type); try c.encode(i, forKey: .in); try c.encode(o, forKey: .out)
            try c.encode(k, forKey: .kernel); try c.encode(s, forKey: .stride); try c.encode(p, forKey: .padding)
            try c.encode(g, forKey: .groups)
        case let .batchNorm(f): try c.encode("batchnorm", forKey: .type); try c.encode(f, forKey: .features)
        case let .layerNorm(f): try c.encode("layernorm", forKey: .type); try c.encode(f, forKey: .features)
        case .relu: try c.encode("relu", forKey: .type)
        case .relu6: try c.encode("relu6", forKey: .type)
        case .silu: try c.encode("silu", forKey: .type)
        case let .gelu(a): try c.encode("gelu", forKey: .type); try c.encode(a.rawValue, forKey: .approximate)
        case let .maxPool(k): try c.encode("maxpool", forKey: .type); try c.encode(k, forKey: .kernel)
        case let .avgPool(k): try c.encode("avgpool", forKey: .type); try c.encode(k, forKey: .kernel)
        case .globalAvgPool: try c.encode("globalavgpool", forKey: .type)
        case .flatten: try c.encode("flatten", forKey: .type)
        case let .dropout(r): try c.encode("dropout", forKey: .type); try c.encode(r, forKey: .rate)
        case let .embedding(n, f):
            try c.encode("embedding", forKey: .type); try c.encode(n, forKey: .count); try c.encode(f, forKey: .features)
        case let .positionalEmbedding(t, f):
            try c.encode("positional_embedding", forKey: .type); try c.encode(t, forKey: .context); try c.encode(f, forKey: .features)
        case let .attention(f, h, width):
            try c.encode("causal_self_attention", forKey: .type); try c.encode(f, forKey: .features); try c.encode(h, forKey: .heads)
            try c.encodeIfPresent(width, forKey: .headFeatures)
        case let .outputProjection(f, n, tied):
            try c.encode("output_projection", forKey: .type); try c.encode(f, forKey: .features); try c.encode(n, forKey: .count)
            try c.encodeIfPresent(tied, forKey: .tied)
        case let .sequential(children, label):
            try c.encode("sequential", forKey: .type); try c.encode(label, forKey: .label)
            try c.encode(children.map { NamedChild(name: $0.name, module: $0.module) }, forKey: .children)
        case let .graph(children, nodes, label):
            try c.encode("graph", forKey: .type); try c.encode(label, forKey: .label)
            try c.encode(children.map { NamedChild(name: $0.name, module: $0.module) }, forKey: .children)
            try c.encode(nodes.map { node -> StoredNode in
                switch node {
                case let .call(child, input, output): return StoredNode(call: child, input: input, output: output)
                case let .add(inputs, output): return StoredNode(add: inputs, output: output)
                }
            }, forKey: .nodes)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func int(_ key: Key) throws -> Int { try c.decode(Int.self, forKey: key) }
        func children() throws -> [Child] { try c.decode([NamedChild].self, forKey: .children).map { Child($0.name, $0.module) } }
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "linear": self = .linear(inFeatures: try int(.in), outFeatures: try int(.out))
        case "conv2d":
            self = .conv2d(inChannels: try int(.in), outChannels: try int(.out), kernel: try int(.kernel),
                           stride: try int(.stride), padding: try int(.padding), groups: try int(.groups))
        case "batchnorm": self = .batchNorm(features: try int(.features))
        case "layernorm": self = .layerNorm(features: try int(.features))
        case "relu": self = .relu
        case "relu6": self = .relu6
        case "silu": self = .silu
        case "gelu":
            let text = try c.decode(String.self, forKey: .approximate)
            guard let a = GELU.Approximation(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .approximate, in: c, debugDescription: "unknown GELU approximation '\(text)'")
            }
            self = .gelu(a)
        case "maxpool": self = .maxPool(kernel: try int(.kernel))
        case "avgpool": self = .avgPool(kernel: try int(.kernel))
        case "globalavgpool": self = .globalAvgPool
        case "flatten": self = .flatten
        case "dropout": self = .dropout(rate: try c.decode(Float.self, forKey: .rate))
        case "embedding": self = .embedding(count: try int(.count), features: try int(.features))
        case "positional_embedding": self = .positionalEmbedding(context: try int(.context), features: try int(.features))
        case "causal_self_attention":
            let width = try c.decodeIfPresent(Int.self, forKey: .headFeatures)
            if let width, width < 1 { throw NeuralNetError("causal_self_attention: head_features must be positive, got \(width)") }
            self = .attention(features: try int(.features), heads: try int(.heads), headFeatures: width)
        case "output_projection":
            self = .outputProjection(features: try int(.features), count: try int(.count),
                                     tiedTo: try c.decodeIfPresent(String.self, forKey: .tied))
        case "sequential": self = .sequential(try children(), label: try c.decode(String.self, forKey: .label))
        case "graph":
            let nodes = try c.decode([StoredNode].self, forKey: .nodes).map { node -> GraphNode in
                if let child = node.call, let input = node.input { return .call(child, input: input, output: node.output) }
                if let inputs = node.add { return .add(inputs, output: node.output) }
                throw DecodingError.dataCorruptedError(forKey: .nodes, in: c, debugDescription: "graph node making '\(node.output)' is neither a call nor an add")
            }
            self = .graph(try children(), nodes: nodes, label: try c.decode(String.self, forKey: .label))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown module type '\(type)'")
        }
    }

    /// Compact, key-sorted JSON: the same tree always gives the same text.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public init(json: String) throws {
        do {
            self = try JSONDecoder().decode(ModuleDescription.self, from: Data(json.utf8))
        } catch let DecodingError.dataCorrupted(context) {
            throw NeuralNetError("module graph: \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw NeuralNetError("module graph: a module at \(Self.where(context)) lacks '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw NeuralNetError("module graph: wrong type at \(Self.where(context)): \(context.debugDescription)")
        } catch {
            throw NeuralNetError("module graph: \(error)")
        }
    }

    private static func `where`(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "the top" : path
    }
}
