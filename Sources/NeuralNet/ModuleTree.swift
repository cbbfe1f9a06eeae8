/// Walking a tree of layers the way PyTorch's `named_modules()` and `named_parameters()` do: a child's path is its
/// parent's path, a dot, and its name, so checkpoint names match a PyTorch module built the same way.
extension Layer {
    /// This layer and every descendant, parents before their children; the root's path is `prefix`.
    public func namedModules(prefix: String = "") -> [(path: String, layer: Layer)] {
        var all: [(path: String, layer: Layer)] = [(prefix, self)]
        for (name, child) in children {
            all += child.namedModules(prefix: Self.join(prefix, name))
        }
        return all
    }

    /// Every parameter and buffer of the tree under this layer, named by path.
    public func namedParameters(prefix: String = "") -> [(name: String, parameter: Parameter)] {
        namedModules(prefix: prefix).flatMap { path, layer in
            layer.parameters.map { (Self.join(path, $0.name), $0) }
        }
    }

    /// The tree as indented lines, `inspect` style: "layer1.0: BasicBlock" over its children.
    public func treeLines(name: String = "", depth: Int = 0) -> [String] {
        let indent = String(repeating: "  ", count: depth)
        let own = indent + (name.isEmpty ? summary : "\(name): \(summary)")
        return [own] + children.flatMap { child in child.layer.treeLines(name: child.name, depth: depth + 1) }
    }

    static func join(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
}
