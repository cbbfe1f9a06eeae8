import Compute
import Datasets
import NeuralNet

/// A network ready for int8 inference: BatchNorm folded into the layer before it, every Conv2d and Linear weight
/// in symmetric int8 (wherever it sits in the tree: residual blocks, attention's projections), and the input of each
/// such layer calibrated to uint8. `float` is the folded network with the dequantized weights: what the int8
/// arithmetic approximates, and what the file stores besides the integers.
public struct QuantizedModel {
    /// One Conv2d or Linear of the folded network.
    public struct Layer {
        /// Module path in `float` ("3" in a chain, "layer1.0.conv1" in a tree); the checkpoint names tensors by it.
        public var path: String
        public var weights: QuantizedWeights
        public var bias: [Float]
        public var input: ActivationQuantization
    }

    public var float: Network
    public var layers: [Layer]
    public var perChannel: Bool
    /// A tree's quantization points (`QuantizationPoints`): Conv2d outputs by module path, residual adds by graph
    /// path and value ("layer1.0.sum"), each with the uint8 grid the int8 runtime keeps it on. Empty for chains
    /// (their runtime requantizes onto the next layer's input grid) and for tree files written before points.
    public var points: [String: ActivationQuantization] = [:]

    /// Post-training quantization: folds, quantizes weights, and calibrates activations on `sample` (inputs as the
    /// model takes them: normalised images, or a language model's token ids).
    public static func postTraining(_ model: Network, sample: Tensor, perChannel: Bool,
                                    calibration: ActivationQuantization.Calibration) throws -> QuantizedModel {
        let folded = try BatchNormFolding.fold(model)
        let isChain = folded.namedModules.allSatisfy { $0.layer.children.isEmpty }
        // Every layer's input, wherever it sits (attention's projections run inside their module's forward).
        let inputs = activationSamples(folded, sample: sample)
        var points: [String: ActivationQuantization] = [:], inputPoints: [String: String] = [:]
        if !isChain {
            let found = QuantizationPoints.find(folded, sample: sample)
            points = found.samples.mapValues { ActivationQuantization.calibrate($0, method: calibration) }
            inputPoints = found.inputPoints
        }
        var layers: [Layer] = []
        for (path, module) in folded.namedModules {
            guard let (weight, bias) = gemmParameters(module) else { continue }
            let q = QuantizedWeights(weight.value.scalars, shape: weight.value.shape, perChannel: perChannel)
            let input = inputPoints[path].flatMap { points[$0] } ?? ActivationQuantization.calibrate(inputs[path] ?? [], method: calibration)
            layers.append(Layer(path: path, weights: q, bias: bias.value.scalars, input: input))
        }
        var result = QuantizedModel(float: folded, layers: layers, perChannel: perChannel, points: points)
        result.writeDequantizedWeights()
        return result
    }

    /// Sets `float`'s weights to what the integers represent.
    mutating func writeDequantizedWeights() {
        let modules = Dictionary(float.namedModules.map { ($0.path, $0.layer) }, uniquingKeysWith: { a, _ in a })
        for layer in layers {
            guard let module = modules[layer.path], let (weight, bias) = gemmParameters(module) else { continue }
            weight.value = Tensor(shape: layer.weights.shape, scalars: layer.weights.dequantized())
            bias.value = Tensor(shape: [layer.bias.count], scalars: layer.bias)
        }
    }

    /// Up to 200,000 input values of every Conv2d and Linear, keyed by module path, from an evaluation pass.
    static func activationSamples(_ model: Network, sample: Tensor) -> [String: [Float]] {
        let recorders = model.namedModules.compactMap { path, layer -> (String, Overridable, InputRecorder)? in
            guard let layer = layer as? Overridable, gemmParameters(layer) != nil else { return nil }
            let recorder = InputRecorder()
            layer.layerOverride = recorder
            return (path, layer, recorder)
        }
        defer { for (_, layer, _) in recorders { layer.layerOverride = nil } }
        _ = model.forward(sample, training: false)
        return Dictionary(recorders.map { ($0.0, $0.2.values) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Keeps a strided sample of what a layer reads in evaluation (the first call's: calibration runs one batch).
private final class InputRecorder: LayerOverride {
    var values: [Float] = []

    func forward(_ x: Tensor, training: Bool, own float: (Tensor) -> Tensor) -> Tensor {
        if values.isEmpty { values = QuantizationPoints.sample(x) }
        return float(x)
    }
}

/// Folds each BatchNorm into the Conv2d or Linear before it, with the running statistics:
/// w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
/// A chain becomes the spec without its BatchNorms; a tree keeps its names, less the BatchNorms folded.
public enum BatchNormFolding {
    public static func fold(_ model: Network) throws -> Network {
        guard model.spec.isChain, model.architecture == model.spec.architecture else { return try foldTree(model) }
        let stages = model.spec.stages.map { stage -> ModelSpec.Stage in
            switch stage {
            case let .conv(out, kernel, padding, stride, _): return .conv(out: out, kernel: kernel, padding: padding, stride: stride, batchNorm: false)
            case let .hidden(out, _): return .hidden(out: out, batchNorm: false)
            default: return stage
            }
        }
        let folded = try Network(try ModelSpec(inputShape: model.inputShape, stages: stages), seed: 0)
        var target = folded.layers.makeIterator()
        var pending: (weight: Parameter, bias: Parameter)?
        for layer in model.layers {
            if let norm = layer as? BatchNorm {
                guard let (weight, bias) = pending else { throw NeuralNetError("BatchNorm without a layer before it to fold into") }
                fold(norm, into: weight, bias)
                pending = nil
                continue
            }
            guard let destination = target.next() else { throw NeuralNetError("folding \(model.spec): layers do not line up") }
            if let (weight, bias) = gemmParameters(layer), let (w2, b2) = gemmParameters(destination) {
                w2.value = weight.value
                b2.value = bias.value
                pending = (w2, b2)
            } else {
                pending = nil
            }
        }
        return folded
    }

    private static func foldTree(_ model: Network) throws -> Network {
        let (description, pairs) = TreeFolding.fold(model.architecture)
        let folded = try Network(model.spec, architecture: description, seed: 0)
        let source = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter) })
        for (name, parameter) in folded.namedParameters {
            guard let original = source[name] else { throw NeuralNetError("folding \(model.spec): '\(name)' has no source") }
            parameter.value = original.value
        }
        let norms = Dictionary(uniqueKeysWithValues: model.namedModules.map { ($0.path, $0.layer) })
        let layers = Dictionary(uniqueKeysWithValues: folded.namedModules.map { ($0.path, $0.layer) })
        for (layer, norm) in pairs {
            guard let norm = norms[norm] as? BatchNorm, let target = layers[layer], let (weight, bias) = gemmParameters(target) else {
                throw NeuralNetError("folding \(model.spec): '\(norm)' into '\(layer)' does not line up")
            }
            fold(norm, into: weight, bias)
        }
        return folded
    }

    /// Scales the rows of `weight` and shifts `bias` by what `norm` does in evaluation.
    private static func fold(_ norm: BatchNorm, into weight: Parameter, _ bias: Parameter) {
        let rows = norm.features, width = weight.value.count / rows
        for c in 0..<rows {
            let factor = norm.gamma.value.scalars[c] / (norm.runningVariance.value.scalars[c] + norm.epsilon).squareRoot()
            for i in (c * width)..<((c + 1) * width) { weight.value.scalars[i] *= factor }
            bias.value.scalars[c] = (bias.value.scalars[c] - norm.runningMean.value.scalars[c]) * factor + norm.beta.value.scalars[c]
        }
    }
}
