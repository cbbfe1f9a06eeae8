import Compute
import Foundation
import NeuralNet

/// Int8 inference for a `QuantizedModel`: activations travel as uint8 in NHWC order, every Conv2d and Linear is one
/// oneDNN u8 x s8 -> s32 GEMM, and bias, ReLU and the requantization to the next layer's grid are one fused pass.
/// Max pooling works on the integers directly (it commutes with a monotonic quantization). Only the logits are float.
public final class Int8Network {
    struct Gemm {
        var inFeatures: Int, outFeatures: Int
        /// (out, in) row-major; for a conv `in` is (ky, kx, channel), for a Linear after convs (h, w, channel).
        var weights: [Int8]
        var inputZero: UInt8
        /// Per output channel: value/outputScale = acc * multiplier + offset (offset includes the output zero point).
        var multiplier: [Float], offset: [Float]
        /// nil for the logits (float out).
        var outputsBytes: Bool
    }

    enum Step {
        case conv(Gemm, geometry: (kernel: Int, stride: Int, padding: Int), input: (height: Int, width: Int, channels: Int),
                  primitive: ConvolutionPrimitives?)
        case pool(kernel: Int, input: (height: Int, width: Int, channels: Int))
        case linear(Gemm)
    }

    let inputShape: [Int]
    let input: ActivationQuantization
    let steps: [Step]
    public let classes: Int
    /// oneDNN's int8 convolution where it has one (and the processor has VNNI, else it rounds the weights to 7 bits);
    /// off, every conv runs as im2row + GEMM (tests compare the two).
    var useConvolutionPrimitives = Int8GEMM.hasDotProductInstructions

    public init(_ model: QuantizedModel) throws {
        let network = model.float
        try network.requireChain(for: "the chain int8 runtime")
        inputShape = network.inputShape
        classes = network.classes
        guard let first = model.layers.first else { throw NeuralNetError("a quantized model needs at least one Conv2d or Linear") }
        input = first.input
        let positions = Dictionary(network.topLevel.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let indices = try model.layers.map { layer -> Int in
            guard let index = positions[layer.path] else { throw NeuralNetError("quantized layer '\(layer.path)' is not a layer of the chain") }
            return index
        }
        var steps: [Step] = []
        var shape = network.inputShape.count == 3 ? (height: network.inputShape[1], width: network.inputShape[2], channels: network.inputShape[0])
                                                 : (height: 1, width: 1, channels: network.inputShape[0])
        try Int8Network.addPools(network.layers[..<indices[0]], to: &steps, shape: &shape)
        for (position, layer) in model.layers.enumerated() {
            let next = position + 1 < model.layers.count ? model.layers[position + 1].input : nil
            let module = network.layers[indices[position]]
            let rows = layer.weights.shape[0], width = layer.weights.values.count / rows
            var weights = layer.weights.values
            if let conv = module as? Conv2d {
                let primitives = next.map { ConvolutionPrimitives(layer, conv, next: $0) }
                weights = Int8Network.permute(weights, rows: rows, channels: conv.inChannels, plane: conv.kernel * conv.kernel)
                steps.append(.conv(Int8Network.gemm(layer, weights: weights, width: width, next: next),
                                   geometry: (conv.kernel, conv.stride, conv.padding), input: shape, primitive: primitives))
                shape = (
                    (shape.height + 2 * conv.padding - conv.kernel) / conv.stride + 1,
                    (shape.width + 2 * conv.padding - conv.kernel) / conv.stride + 1, conv.outChannels)
            } else {
                if shape.height * shape.width > 1 {
                    weights = Int8Network.permute(weights, rows: rows, channels: shape.channels, plane: shape.height * shape.width)
                }
                steps.append(.linear(Int8Network.gemm(layer, weights: weights, width: width, next: next)))
                shape = (1, 1, rows)
            }
            // Max pools between this layer and the next run on the integers.
            let end = position + 1 < model.layers.count ? indices[position + 1] : network.layers.count
            try Int8Network.addPools(network.layers[(indices[position] + 1)..<end], to: &steps, shape: &shape)
            if next != nil, !network.layers[(indices[position] + 1)..<end].contains(where: { $0 is ReLU }) {
                throw NeuralNetError("int8 inference expects a ReLU after \(module.summary)")
            }
        }
        self.steps = steps
    }

    /// Pools among `layers` become integer pool steps; anything but ReLU, Flatten and Dropout cannot run in int8.
    private static func addPools(_ layers: ArraySlice<NeuralNet.Layer>, to steps: inout [Step],
                                 shape: inout (height: Int, width: Int, channels: Int)) throws {
        for layer in layers {
            if let pool = layer as? MaxPool2d {
                steps.append(.pool(kernel: pool.kernel, input: shape))
                shape = (shape.height / pool.kernel, shape.width / pool.kernel, shape.channels)
            } else if !(layer is ReLU || layer is Flatten || layer is Dropout) {
                throw NeuralNetError("int8 inference cannot run \(layer.summary)")
            }
        }
    }

    /// Reorders each row's (channel, position) columns to (position, channel), the NHWC order.
    private static func permute(_ weights: [Int8], rows: Int, channels: Int, plane: Int) -> [Int8] {
        var out = weights
        for r in 0..<rows {
            for c in 0..<channels {
                for p in 0..<plane { out[r * channels * plane + p * channels + c] = weights[r * channels * plane + c * plane + p] }
            }
        }
        return out
    }

    private static func gemm(_ layer: QuantizedModel.Layer, weights: [Int8], width: Int, next: ActivationQuantization?) -> Gemm {
        let rows = layer.weights.shape[0]
        let outScale = next?.scale ?? 1, outZero = Float(next?.zero ?? 0)
        let multiplier = (0..<rows).map { layer.input.scale * layer.weights.scale(row: $0) / outScale }
        let offset = (0..<rows).map { layer.bias[$0] / outScale + outZero }
        return Gemm(inFeatures: width, outFeatures: rows, weights: weights, inputZero: layer.input.zero,
                    multiplier: multiplier, offset: offset, outputsBytes: next != nil)
    }

    /// x: (batch, input...) float, normalised as the model expects -> logits (batch, classes).
    public func forward(_ x: Tensor) -> Tensor {
        let batch = x.shape[0]
        var bytes = quantizeInput(x)
        var logits = Tensor(zeros: [batch, classes])
        for step in steps {
            switch step {
            case let .conv(_, _, shape, primitives?)
                where useConvolutionPrimitives && primitives.convolution(batch: batch, height: shape.height, width: shape.width) != nil:
                let convolution = primitives.convolution(batch: batch, height: shape.height, width: shape.width)!
                var out = [UInt8](repeating: 0, count: batch * primitives.outputCount(height: shape.height, width: shape.width))
                bytes.withUnsafeBufferPointer { src in
                    out.withUnsafeMutableBufferPointer { dst in convolution.run(src: src.baseAddress!, dst: dst.baseAddress!) }
                }
                precondition(bytes.count == batch * shape.height * shape.width * shape.channels)
                bytes = out
            case let .conv(gemm, geometry, shape, _):
                bytes = Int8Network.im2row(bytes, batch: batch, shape: shape, kernel: geometry.kernel, stride: geometry.stride,
                                           padding: geometry.padding, fill: gemm.inputZero)
                let rows = bytes.count / gemm.inFeatures
                bytes = Int8Network.run(gemm, bytes, rows: rows, logits: &logits)
            case let .pool(kernel, shape):
                bytes = Int8Network.maxPool(bytes, batch: batch, shape: shape, kernel: kernel)
            case let .linear(gemm):
                bytes = Int8Network.run(gemm, bytes, rows: batch, logits: &logits)
            }
        }
        return logits
    }

    /// The input on its grid as NHWC bytes (rows of features for an MLP).
    private func quantizeInput(_ x: Tensor) -> [UInt8] {
        x.rank == 4 ? Int8TreeKernels.quantizeToNHWC(x, input) : Int8TreeKernels.quantize(x.scalars, input)
    }
}

/// oneDNN's int8 convolution for one Conv2d, one primitive per (batch, height, width) made on first use: uint8 out on
/// the next quantized layer's grid (a chain), or float out (`next` nil, a tree's next float layer). The GEMM path
/// runs where oneDNN has none.
final class ConvolutionPrimitives: @unchecked Sendable {
    let channels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    let weights: [Int8], bias: [Float], scales: [Float]
    let sourceZero: UInt8, destinationZero: UInt8
    var floatOutput: Bool { destination == nil }
    private let destination: ActivationQuantization?
    private var made: [[Int]: Int8Convolution?] = [:]
    private let lock = NSLock()

    init(_ layer: QuantizedModel.Layer, _ conv: Conv2d, next: ActivationQuantization?) {
        channels = conv.inChannels; outChannels = conv.outChannels; kernel = conv.kernel; stride = conv.stride
        padding = conv.padding; groups = conv.groups
        weights = layer.weights.values
        // In accumulator units, as the primitive adds it before scaling.
        bias = (0..<outChannels).map { layer.bias[$0] / (layer.input.scale * layer.weights.scale(row: $0)) }
        scales = (0..<outChannels).map { layer.input.scale * layer.weights.scale(row: $0) / (next?.scale ?? 1) }
        sourceZero = layer.input.zero
        destinationZero = next?.zero ?? 0
        destination = next
    }

    func outputCount(height: Int, width: Int) -> Int {
        ((height + 2 * padding - kernel) / stride + 1) * ((width + 2 * padding - kernel) / stride + 1) * outChannels
    }

    func convolution(batch: Int, height: Int, width: Int) -> Int8Convolution? {
        lock.lock()
        defer { lock.unlock() }
        let key = [batch, height, width]
        if let known = made[key] { return known }
        let created = Int8Convolution(batch: batch, channels: channels, height: height, width: width, outChannels: outChannels,
                                      kernel: kernel, stride: stride, padding: padding, groups: groups, weights: weights, bias: bias,
                                      scales: scales, sourceZero: sourceZero, destinationZero: destinationZero, floatOutput: floatOutput)
        if made.count >= 64 { made.removeAll() }
        made[key] = created
        return created
    }
}
