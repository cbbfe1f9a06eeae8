import Compute
import NeuralNet

/// Quantization-aware training: the network trains with the int8 runtime's rounding simulated in float, so the
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
        let grids = Dictionary(uniqueKeysWithValues: start.layers.map { ($0.index, $0.input) })
        let wrapped = Network(folded, layers: folded.layers.enumerated().map { index, layer in
            grids[index].map { FakeQuantized(layer, input: $0, perChannel: perChannel) } ?? layer
        })
        try tuner.fit(wrapped, masks: masks.sparsity > 0 ? masks : nil, epochs: epochs)
        var result = start
        for (position, layer) in start.layers.enumerated() {
            guard let (weight, bias) = gemmParameters(folded.layers[layer.index]) else { continue }
            result.layers[position].weights = QuantizedWeights(weight.value.scalars, shape: weight.value.shape, perChannel: perChannel)
            result.layers[position].bias = bias.value.scalars
        }
        result.float = folded
        result.writeDequantizedWeights()
        return result
    }
}

/// A Conv2d or Linear trained through simulated int8: input fake-quantized to `input`'s grid, weights to int8.
final class FakeQuantized: Layer {
    let inner: Layer
    let weight: Parameter
    let input: ActivationQuantization
    let perChannel: Bool
    private var floatWeights: [Float] = []
    private var inside: [Bool] = []

    init(_ inner: Layer, input: ActivationQuantization, perChannel: Bool) {
        self.inner = inner
        self.weight = gemmParameters(inner)!.weight
        self.input = input
        self.perChannel = perChannel
    }

    var summary: String { "FakeQuantized(\(inner.summary))" }
    var parameters: [Parameter] { inner.parameters }
    func outputShape(for input: [Int]) throws -> [Int] { try inner.outputShape(for: input) }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        let low = input.dequantize(0), high = input.dequantize(255)
        var snapped = x
        inside = x.scalars.map { $0 >= low && $0 <= high }
        snapped.scalars = x.scalars.map { input.dequantize(input.quantize($0)) }
        // The weights stay fake-quantized until backward has used them, then the float ones come back.
        floatWeights = weight.value.scalars
        weight.value.scalars = QuantizedWeights(floatWeights, shape: weight.value.shape, perChannel: perChannel).dequantized()
        let y = inner.forward(snapped, training: training)
        if !training { restore() }
        return y
    }

    func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        let dx = inner.backward(dy, needInputGradient: needInputGradient)
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
