import Compute

/// One step of a `Graph`: a child applied to a value, or values of one shape added.
public enum GraphNode: Sendable, Equatable {
    case call(String, input: String, output: String)
    case add([String], output: String)

    public var output: String {
        switch self {
        case let .call(_, _, output), let .add(_, output): return output
        }
    }

    public var inputs: [String] {
        switch self {
        case let .call(_, input, _): return [input]
        case let .add(inputs, _): return inputs
        }
    }
}

/// Children wired by named values where a line will not do: a residual block's skip and two-input add. The graph
/// reads the value "input"; its last node's value is the output. The wiring is checked when the graph is built:
/// every value is produced once before it is read and read at least once, every child is called exactly once
/// (a layer keeps one forward's state for its backward); shapes are checked by `outputShape`.
public final class Graph: Layer {
    public static let input = "input"
    public let children: [(name: String, layer: Layer)]
    public let nodes: [GraphNode]
    private let label: String
    private let byName: [String: Layer]

    public init(_ children: [(name: String, layer: Layer)], nodes: [GraphNode], label: String = "Graph") throws {
        self.children = children
        self.nodes = nodes
        self.label = label
        byName = Dictionary(children.map { ($0.name, $0.layer) }, uniquingKeysWith: { first, _ in first })
        try Graph.validate(children.map(\.name), nodes)
    }

    static func validate(_ names: [String], _ nodes: [GraphNode]) throws {
        guard Set(names).count == names.count else { throw NeuralNetError("graph has two children of one name in \(names)") }
        guard let last = nodes.last else { throw NeuralNetError("graph has no nodes") }
        var produced: Set<String> = [input], read: Set<String> = [], called: Set<String> = []
        for node in nodes {
            for value in node.inputs where !produced.contains(value) {
                throw NeuralNetError("graph node making '\(node.output)' reads '\(value)' before any node produces it")
            }
            read.formUnion(node.inputs)
            guard produced.insert(node.output).inserted else { throw NeuralNetError("graph value '\(node.output)' is produced twice") }
            switch node {
            case let .call(child, _, _):
                guard names.contains(child) else { throw NeuralNetError("graph calls '\(child)', which is not one of its children \(names)") }
                guard called.insert(child).inserted else { throw NeuralNetError("graph calls child '\(child)' twice") }
            case let .add(inputs, _):
                guard inputs.count >= 2 else { throw NeuralNetError("graph add making '\(node.output)' needs two inputs or more, got \(inputs)") }
            }
        }
        if let unused = names.first(where: { !called.contains($0) }) { throw NeuralNetError("graph child '\(unused)' is never called") }
        if let dangling = produced.subtracting(read).subtracting([last.output]).sorted().first {
            throw NeuralNetError("graph value '\(dangling)' is produced but never read")
        }
    }

    public var summary: String { label }

    public func outputShape(for input: [Int]) throws -> [Int] {
        try Graph.outputShape(for: input, nodes: nodes) { try byName[$0]!.outputShape(for: $1) }
    }

    /// The wiring's shapes given each child's shape rule (a layer's, or a module description's).
    static func outputShape(for input: [Int], nodes: [GraphNode],
                            child childShape: (String, [Int]) throws -> [Int]) throws -> [Int] {
        var shapes = [Graph.input: input]
        for node in nodes {
            switch node {
            case let .call(child, value, output):
                do { shapes[output] = try childShape(child, shapes[value]!) } catch { throw NeuralNetError.inside(child, error) }
            case let .add(values, output):
                let first = shapes[values[0]]!
                for other in values.dropFirst() where shapes[other]! != first {
                    throw NeuralNetError("add making '\(output)' needs one shape: '\(values[0])' is \(first), '\(other)' is \(shapes[other]!)")
                }
                shapes[output] = first
            }
        }
        return shapes[nodes.last!.output]!
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var values = [Graph.input: x]
        for node in nodes {
            switch node {
            case let .call(child, input, output):
                values[output] = byName[child]!.forward(values[input]!, training: training)
            case let .add(inputs, output):
                var sum = values[inputs[0]]!
                for other in inputs.dropFirst() { Graph.accumulate(values[other]!, into: &sum) }
                values[output] = sum
            }
        }
        return values[nodes.last!.output]!
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        // Gradients of a value read twice (the block's input: the main path and the skip) are summed.
        var gradients = [nodes.last!.output: dy]
        func deliver(_ g: Tensor, to value: String) {
            if var existing = gradients[value] {
                Graph.accumulate(g, into: &existing)
                gradients[value] = existing
            } else {
                gradients[value] = g
            }
        }
        for node in nodes.reversed() {
            guard let g = gradients.removeValue(forKey: node.output) else { continue }
            switch node {
            case let .call(child, input, _):
                let wanted = input != Graph.input || needInputGradient
                if let dx = byName[child]!.backward(g, needInputGradient: wanted), wanted { deliver(dx, to: input) }
            case let .add(inputs, _):
                for input in inputs where input != Graph.input || needInputGradient { deliver(g, to: input) }
            }
        }
        return needInputGradient ? gradients[Graph.input] : nil
    }

    private static func accumulate(_ x: Tensor, into sum: inout Tensor) {
        precondition(x.shape == sum.shape, "graph add of \(x.shape) and \(sum.shape)")
        guard x.count > 0 else { return }
        x.scalars.withUnsafeBufferPointer { xp in
            sum.scalars.withUnsafeMutableBufferPointer { Elementwise.accumulate(xp, into: $0) }
        }
    }
}
