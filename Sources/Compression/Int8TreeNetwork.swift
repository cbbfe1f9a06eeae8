import Compute
import Foundation
import NeuralNet

/// Int8 inference for a quantized tree (residual and depthwise CNNs, transformers): a copy of the folded network in
/// which every quantized Conv2d and Linear runs in integers, its input snapped to its calibrated uint8 grid, the
/// product u8 x s8 -> s32 on oneDNN, bias and scales applied on the way back to float. What lies between (adds,
/// pooling, LayerNorm, attention's softmax, GELU) runs in float, so the result is exactly what the QDQ export says:
/// quantize-dequantize at each Conv/Gemm input. The chain runtime (`Int8Network`) keeps activations in uint8 end to
/// end instead; a tree's adds are not requantized here.
public final class Int8TreeNetwork {
    let network: Network
    let kernels: [Int8TreeKernel]

    public init(_ model: QuantizedModel) throws {
        let float = model.float
        network = try Network(float.spec, architecture: float.architecture, seed: 0)
        let source = Dictionary(float.namedParameters.map { ($0.name, $0.parameter) }, uniquingKeysWith: { a, _ in a })
        for (name, parameter) in network.namedParameters {
            guard let original = source[name] else { throw NeuralNetError("int8 runtime: '\(name)' has no weights in the quantized model") }
            parameter.value = original.value
        }
        let modules = Dictionary(network.namedModules.map { ($0.path, $0.layer) }, uniquingKeysWith: { a, _ in a })
        var kernels: [Int8TreeKernel] = []
        for layer in model.layers {
            switch modules[layer.path] {
            case let linear as Linear:
                let kernel = Int8LinearKernel(layer, linear)
                linear.layerOverride = kernel
                kernels.append(kernel)
            case let conv as Conv2d:
                let kernel = Int8ConvolutionKernel(layer, conv)
                conv.layerOverride = kernel
                kernels.append(kernel)
            case let other?:
                throw NeuralNetError.inside(layer.path, NeuralNetError("the int8 runtime runs Conv2d and Linear layers in integers, not \(other.summary)"))
            case nil:
                throw NeuralNetError("quantized layer '\(layer.path)' is not in \(float.spec.text)")
            }
        }
        self.kernels = kernels
    }

    /// oneDNN's int8 convolutions where it has them (and the processor has VNNI); off, every conv runs as im2row +
    /// GEMM per group (tests compare the two).
    public var useConvolutionPrimitives: Bool {
        get { kernels.compactMap { $0 as? Int8ConvolutionKernel }.allSatisfy(\.usePrimitive) }
        set { for case let conv as Int8ConvolutionKernel in kernels { conv.usePrimitive = newValue } }
    }

    /// x: (batch, input...) as the model takes it -> its output, e.g. logits (batch, classes).
    public func forward(_ x: Tensor) -> Tensor { network.forward(x, training: false) }
}

extension QuantizedModel {
    /// The int8 runtime for this model: uint8 end to end for an mlp: or cnn: chain (`Int8Network`), integer
    /// Conv2d and Linear layers inside float for a tree (`Int8TreeNetwork`).
    public func runtime() throws -> (Tensor) -> Tensor {
        if float.namedModules.allSatisfy({ $0.layer.children.isEmpty }) {
            let network = try Int8Network(self)
            return { network.forward($0) }
        }
        let network = try Int8TreeNetwork(self)
        return { network.forward($0) }
    }
}

/// One quantized layer's integer forward (evaluation only: the runtime's network never trains).
protocol Int8TreeKernel: LayerOverride {
    func evaluate(_ x: Tensor) -> Tensor
}

extension Int8TreeKernel {
    func forward(_ x: Tensor, training: Bool, own: (Tensor) -> Tensor) -> Tensor {
        precondition(!training, "the int8 runtime only evaluates")
        return evaluate(x)
    }
}

/// Rows of float in, snapped to the input grid; one u8 x s8 GEMM; float out with bias.
final class Int8LinearKernel: Int8TreeKernel {
    let gemm: Int8Network.Gemm
    let input: ActivationQuantization

    init(_ layer: QuantizedModel.Layer, _ linear: Linear) {
        input = layer.input
        let rows = linear.outFeatures
        gemm = Int8Network.Gemm(inFeatures: linear.inFeatures, outFeatures: rows, weights: layer.weights.values, inputZero: layer.input.zero,
                                multiplier: (0..<rows).map { layer.input.scale * layer.weights.scale(row: $0) },
                                offset: layer.bias, outputsBytes: false)
    }

    func evaluate(_ x: Tensor) -> Tensor {
        let rows = x.count / gemm.inFeatures
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [gemm.outFeatures])
        guard rows > 0 else { return y }
        _ = Int8Network.run(gemm, Int8TreeKernels.quantize(x.scalars, input), rows: rows, logits: &y)
        return y
    }
}

/// NCHW float in, snapped to the input grid as uint8 NHWC; oneDNN's int8 convolution writing float NHWC (grouped
/// and depthwise too), or im2row + GEMM per group where oneDNN has none; float NCHW out.
final class Int8ConvolutionKernel: Int8TreeKernel {
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    let input: ActivationQuantization
    /// Per group (out / groups, k, k, in / groups) rows for the GEMM path.
    let groupGemms: [Int8Network.Gemm]
    let primitives: ConvolutionPrimitives
    var usePrimitive = Int8GEMM.hasDotProductInstructions

    init(_ layer: QuantizedModel.Layer, _ conv: Conv2d) {
        inChannels = conv.inChannels; outChannels = conv.outChannels; kernel = conv.kernel; stride = conv.stride
        padding = conv.padding; groups = conv.groups
        input = layer.input
        primitives = ConvolutionPrimitives(layer, conv, next: nil)
        let scales = (0..<conv.outChannels).map { layer.input.scale * layer.weights.scale(row: $0) }
        let groupIn = conv.inChannels / conv.groups, groupOut = conv.outChannels / conv.groups, plane = conv.kernel * conv.kernel
        groupGemms = (0..<conv.groups).map { g in
            var rows = [Int8](repeating: 0, count: groupOut * plane * groupIn)
            for o in 0..<groupOut {
                for c in 0..<groupIn {
                    for p in 0..<plane { rows[(o * plane + p) * groupIn + c] = layer.weights.values[((g * groupOut + o) * groupIn + c) * plane + p] }
                }
            }
            let channels = (g * groupOut)..<((g + 1) * groupOut)
            return Int8Network.Gemm(inFeatures: plane * groupIn, outFeatures: groupOut, weights: rows, inputZero: layer.input.zero,
                                    multiplier: Array(scales[channels]), offset: Array(layer.bias[channels]), outputsBytes: false)
        }
    }

    func evaluate(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "int8 Conv2d(\(inChannels) -> \(outChannels)): input \(x.shape)")
        let (batch, height, width) = (x.shape[0], x.shape[2], x.shape[3])
        let oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1
        let shape = [batch, outChannels, oh, ow]
        guard batch > 0 else { return Tensor(zeros: shape) }
        let bytes = Int8TreeKernels.quantizeToNHWC(x, input)
        let count = batch * outChannels * oh * ow
        var nhwc: [Float]
        if usePrimitive, let primitive = primitives.convolution(batch: batch, height: height, width: width) {
            nhwc = [Float](unsafeUninitializedCapacity: count) { dst, initialized in
                bytes.withUnsafeBufferPointer { primitive.run(src: $0.baseAddress!, dst: dst.baseAddress!) }
                initialized = count
            }
        } else {
            nhwc = [Float](repeating: 0, count: count)
            // One GEMM per group over (batch * oh * ow) rows, each writing its columns of the NHWC output.
            let groupIn = inChannels / groups, groupOut = outChannels / groups, rows = batch * oh * ow
            for (g, gemm) in groupGemms.enumerated() {
                let slice = groups == 1 ? bytes : Int8TreeKernels.channels(bytes, count: inChannels, range: (g * groupIn)..<((g + 1) * groupIn))
                let patches = Int8Network.im2row(slice, batch: batch, shape: (height, width, groupIn), kernel: kernel, stride: stride,
                                                 padding: padding, fill: input.zero)
                var part = Tensor(zeros: [rows, groupOut])
                _ = Int8Network.run(gemm, patches, rows: rows, logits: &part)
                for r in 0..<rows {
                    for o in 0..<groupOut { nhwc[r * outChannels + g * groupOut + o] = part.scalars[r * groupOut + o] }
                }
            }
        }
        return Tensor(shape: shape, scalars: Int8TreeKernels.nchw(fromNHWC: nhwc, batch: batch, channels: outChannels, plane: oh * ow))
    }

}

enum Int8TreeKernels {
    /// Row-major floats onto `grid`, same order.
    static func quantize(_ x: [Float], _ grid: ActivationQuantization) -> [UInt8] {
        let inverse = 1 / grid.scale, zero = Float(grid.zero)
        var out = [UInt8](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, d = dst.baseAddress!
                Parallel.forEachChunk(x.count) { range in
                    for i in range { d[i] = roundToByte(s[i] * inverse + zero) }
                }
            }
        }
        return out
    }

    /// NCHW floats onto `grid`, as NHWC bytes: oneDNN's reorder moves the axes (a strided loop here cost a fifth
    /// of a MobileNet's int8 inference), then one contiguous pass rounds.
    static func quantizeToNHWC(_ x: Tensor, _ grid: ActivationQuantization) -> [UInt8] {
        let (batch, channels, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        guard channels > 1 && plane > 1 else { return quantize(x.scalars, grid) }
        let nhwc = AxisPermutation.cached(.init(dimensions: [batch, channels, plane], sourceStrides: [channels * plane, plane, 1],
                                                destinationStrides: [channels * plane, 1, channels]))
        return quantize(nhwc(x.scalars), grid)
    }

    /// NHWC floats as NCHW, by oneDNN's reorder.
    static func nchw(fromNHWC x: [Float], batch: Int, channels: Int, plane: Int) -> [Float] {
        guard channels > 1 && plane > 1 else { return x }
        let permutation = AxisPermutation.cached(.init(dimensions: [batch, channels, plane], sourceStrides: [channels * plane, 1, channels],
                                                       destinationStrides: [channels * plane, plane, 1]))
        return permutation(x)
    }

    /// The channels `range` of NHWC bytes with `count` channels, contiguous.
    static func channels(_ x: [UInt8], count: Int, range: Range<Int>) -> [UInt8] {
        let pixels = x.count / count
        var out = [UInt8](repeating: 0, count: pixels * range.count)
        for p in 0..<pixels {
            for (i, c) in range.enumerated() { out[p * range.count + i] = x[p * count + c] }
        }
        return out
    }
}
