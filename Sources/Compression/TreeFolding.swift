import NeuralNet

/// BatchNorm folding on a module tree: a BatchNorm that reads only the output of the Conv2d or Linear before it (the
/// next child of a Sequential, or the one reader of a graph value) disappears into that layer; every other module
/// keeps its name, so the folded tree's parameters are a subset of the original's.
enum TreeFolding {
    /// (layer path, BatchNorm path) of each pair folded.
    typealias Pair = (layer: String, norm: String)

    static func fold(_ description: ModuleDescription, path: String = "") -> (ModuleDescription, [Pair]) {
        func join(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        switch description {
        case let .sequential(children, label):
            var kept: [ModuleDescription.Child] = [], pairs: [Pair] = []
            var index = 0
            while index < children.count {
                let child = children[index]
                if isGemm(child.module), index + 1 < children.count, case .batchNorm = children[index + 1].module {
                    kept.append(child)
                    pairs.append((join(child.name), join(children[index + 1].name)))
                    index += 2
                    continue
                }
                let (inner, innerPairs) = fold(child.module, path: join(child.name))
                kept.append(.init(child.name, inner))
                pairs += innerPairs
                index += 1
            }
            return (.sequential(kept, label: label), pairs)
        case let .graph(children, nodes, label):
            let byName = Dictionary(children.map { ($0.name, $0.module) }, uniquingKeysWith: { a, _ in a })
            var nodes = nodes, removed: Set<String> = [], pairs: [Pair] = []
            var position = 0
            while position < nodes.count {
                defer { position += 1 }
                guard case let .call(layer, input, value) = nodes[position], let module = byName[layer], isGemm(module) else { continue }
                let readers = nodes.indices.filter { nodes[$0].inputs.contains(value) }
                guard readers.count == 1, case let .call(norm, _, output) = nodes[readers[0]], case .batchNorm = byName[norm] else { continue }
                nodes[position] = .call(layer, input: input, output: output)
                nodes.remove(at: readers[0])
                removed.insert(norm)
                pairs.append((join(layer), join(norm)))
            }
            var kept: [ModuleDescription.Child] = []
            for child in children where !removed.contains(child.name) {
                let (inner, innerPairs) = fold(child.module, path: join(child.name))
                kept.append(.init(child.name, inner))
                pairs += innerPairs
            }
            return (.graph(kept, nodes: nodes, label: label), pairs)
        default:
            return (description, [])
        }
    }

    private static func isGemm(_ module: ModuleDescription) -> Bool {
        switch module {
        case .conv2d, .linear: return true
        default: return false
        }
    }
}
