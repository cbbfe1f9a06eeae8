import Compute
import NeuralNet

/// Quantization-aware training, for chains and trees: the network trains with the int8 runtime's rounding simulated in float, so the
/// weights learn to live on the integer grid. Each Conv2d and Linear sees its input snapped to its calibrated uint8
/// grid and its weights to symmetric int8 (scales recomputed from the float weights every step); gradients pass the
/// rounding unchanged (the straight-through estimator), except where the input was clipped, and update the float
/// weights. BatchNorm is folded first, so what trains is exactly what the runtime runs.
public enum QuantizationAwareTraining {
    /// Calibrates as post-training quantization does, fine-tunes with fake quantization through `tuner` (masks hold
    /// a pruned network's zeros), and returns the quantized result.
    public static func run(_ model: Network, sample: Tensor, perChannel: Bool, calibration: ActivationQuantization.Calibration,
                           tuner: FineTuner, epochs: Int) throws -> QuantizedModel {
        let start = try QuantizedModel.postTraining(model, sample: sample, perChannel: perChannel, calibration: calibration)
        let folded = try BatchNormFolding.fold(model)
        let masks = PruningMasks.nonzero(folded)
        let modules = Dictionary(folded.namedModules.map { ($0.path, $0.layer) }, uniquingKeysWith: { a, _ in a })
        let simulated = start.layers.compactMap { layer -> Overridable? in
            guard let module = modules[layer.path] as? Overridable, let (weight, _) = gemmParameters(module) else { return nil }
            module.layerOverride = FakeQuantization(weight: weight, input: layer.input, output: start.points[layer.path], perChannel: perChannel)
            return module
        }
        defer { for module in simulated { module.layerOverride = nil } }
        try tuner.fit(folded, masks: masks.sparsity > 0 ? masks : nil, epochs: epochs)
        var result = start
        for (position, layer) in start.layers.enumerated() {
            guard let module = modules[layer.path], let (weight, bias) = gemmParameters(module) else { continue }
            result.layers[position].weights = QuantizedWeights(weight.value.scalars, shape: weight.value.shape, perChannel: perChannel)
            result.layers[position].bias = bias.value.scalars
        }
        result.float = folded
        result.writeDequantizedWeights()
        return result
    }
}

/// A Conv2d's or Linear's passes through simulated int8: input fake-quantized to `input`'s grid, weights to int8,
/// and the output to its quantization point's grid where it has one (a tree's conv).
final class FakeQuantization: LayerOverride {
    let weight: Parameter
    let input: ActivationQuantization
    let output: ActivationQuantization?
    let perChannel: Bool
    private var floatWeights: [Float] = []
    private var inside: [Bool] = []
    private var outputInside: [Bool] = []

    init(weight: Parameter, input: ActivationQuantization, output: ActivationQuantization? = nil, perChannel: Bool) {
        self.weight = weight
        self.input = input
        self.output = output
        self.perChannel = perChannel
    }

    func forward(_ x: Tensor, training: Bool, own: (Tensor) -> Tensor) -> Tensor {
        let low = input.dequantize(0), high = input.dequantize(255)
        var snapped = x
        inside = x.scalars.map { $0 >= low && $0 <= high }
        snapped.scalars = x.scalars.map { input.dequantize(input.quantize($0)) }
        // The weights stay fake-quantized until backward has used them, then the float ones come back.
        floatWeights = weight.value.scalars
        weight.value.scalars = QuantizedWeights(floatWeights, shape: weight.value.shape, perChannel: perChannel).dequantized()
        var y = own(snapped)
        if !training { restore() }
        if let output {
            let low = output.dequantize(0), high = output.dequantize(255)
            outputInside = y.scalars.map { $0 >= low && $0 <= high }
            y.scalars = y.scalars.map { output.dequantize(output.quantize($0)) }
        }
        return y
    }

    func backward(_ dy: Tensor, needInputGradient: Bool, own: (Tensor) -> Tensor?) -> Tensor? {
        var dy = dy
        if output != nil {
            for i in 0..<dy.count where !outputInside[i] { dy.scalars[i] = 0 }  // nor do clipped outputs
        }
        let dx = own(dy)
        restore()
        guard var dx else { return nil }
        for i in 0..<dx.count where !inside[i] { dx.scalars[i] = 0 }  // clipped inputs pass no gradient
        return dx
    }

    private func restore() {
        guard !floatWeights.isEmpty else { return }
        weight.value.scalars = floatWeights
        floatWeights = []
    }
}
