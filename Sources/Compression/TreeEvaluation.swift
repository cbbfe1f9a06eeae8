import Compute
import NeuralNet

/// A tree run container by container, as `Network.forward` runs it, with each leaf and each residual add handed to
/// the evaluation: the int8 runtime's values are bytes or floats, calibration's are floats it samples.
protocol TreeEvaluation {
    associatedtype Value
    /// `soleReader`: nothing but this layer reads `x`, so an activation may take over its producer's grid.
    mutating func leaf(_ layer: Layer, path: String, _ x: Value, soleReader: Bool) -> Value
    /// A graph's add; `key` is the graph's path and the value's name ("layer1.0.sum").
    mutating func add(_ values: [Value], key: String) -> Value
}

extension TreeEvaluation {
    mutating func run(_ layer: Layer, path: String, _ x: Value, soleReader: Bool = true) -> Value {
        func join(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        if let graph = layer as? Graph {
            var readers: [String: Int] = [:]
            for node in graph.nodes { for value in node.inputs { readers[value, default: 0] += 1 } }
            var values = [Graph.input: x]
            for node in graph.nodes {
                switch node {
                case let .call(child, input, output):
                    let sole = readers[input] == 1 && (input != Graph.input || soleReader)
                    let module = graph.children.first { $0.name == child }!.layer
                    values[output] = run(module, path: join(child), values[input]!, soleReader: sole)
                case let .add(inputs, output):
                    values[output] = add(inputs.map { values[$0]! }, key: join(output))
                }
            }
            return values[graph.nodes.last!.output]!
        }
        if let sequential = layer as? Sequential {
            var value = x
            for (index, child) in sequential.children.enumerated() {
                value = run(child.layer, path: join(child.name), value, soleReader: index > 0 || soleReader)
            }
            return value
        }
        return leaf(layer, path: path, x, soleReader: soleReader)
    }
}

/// The places where a quantized tree keeps its activations as uint8 (its quantization points), found by running the
/// folded float network once: every Conv2d's output (on the grid of the ReLU or ReLU6 that alone reads it, when one
/// does: clamping to that grid is the activation), and every add of such values (likewise). A quantized layer that
/// reads a point takes the point's grid as its own input grid, so no pass converts between grids.
struct QuantizationPoints: TreeEvaluation {
    typealias Value = (tensor: Tensor, point: String?)
    /// What each point held (the activation's output where one took over the grid).
    var samples: [String: [Float]] = [:]
    /// The point each Conv2d or Linear reads, where it reads one.
    var inputPoints: [String: String] = [:]

    static func find(_ model: Network, sample: Tensor) -> QuantizationPoints {
        var points = QuantizationPoints()
        _ = points.run(model.root, path: "", (sample, nil))
        return points
    }

    mutating func leaf(_ layer: Layer, path: String, _ x: Value, soleReader: Bool) -> Value {
        if gemmParameters(layer) != nil, let point = x.point { inputPoints[path] = point }
        let y = layer.forward(x.tensor, training: false)
        switch layer {
        case is Conv2d:
            samples[path] = Self.sample(y)
            return (y, path)
        case is ReLU, is ReLU6:
            if let point = x.point, soleReader { samples[point] = Self.sample(y) }
            return (y, x.point)
        case is MaxPool2d, is Dropout:
            return (y, x.point)
        default:
            return (y, nil)
        }
    }

    mutating func add(_ values: [Value], key: String) -> Value {
        let sum = Self.sum(values.map(\.tensor))
        guard values.allSatisfy({ $0.point != nil }) else { return (sum, nil) }
        samples[key] = Self.sample(sum)
        return (sum, key)
    }

    /// Same-shape tensors added, as a graph's add computes them.
    static func sum(_ tensors: [Tensor]) -> Tensor {
        var sum = tensors[0]
        for other in tensors.dropFirst() {
            sum.scalars.withUnsafeMutableBufferPointer { s in other.scalars.withUnsafeBufferPointer { Elementwise.accumulate($0, into: s) } }
        }
        return sum
    }

    /// Up to 200,000 values at a fixed stride, so tensors of one shape are sampled at the same positions.
    static func sample(_ x: Tensor) -> [Float] {
        let stride = max(1, x.count / 200_000)
        return Swift.stride(from: 0, to: x.count, by: stride).map { x.scalars[$0] }
    }

    /// Every key a quantized file may name a point by: Conv2d paths and graph add values.
    static func possibleKeys(_ model: Network) -> Set<String> {
        var keys: Set<String> = []
        for (path, layer) in model.root.namedModules() {
            if layer is Conv2d { keys.insert(path) }
            if let graph = layer as? Graph {
                for case let .add(_, output) in graph.nodes { keys.insert(path.isEmpty ? output : "\(path).\(output)") }
            }
        }
        return keys
    }
}
