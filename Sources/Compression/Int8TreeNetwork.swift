import Compute
import Foundation
import NeuralNet

/// Int8 inference for a quantized tree (residual and depthwise CNNs, transformers): a copy of the folded network in
/// which every quantized Conv2d and Linear runs in integers, u8 x s8 -> s32 on oneDNN. Activations stay uint8 NHWC
/// between the model's quantization points (`QuantizedModel.points`): a Conv2d writes its output as bytes on its
/// point's grid (ReLU and ReLU6 are clamps there), residual adds requantize their inputs onto the add's grid, max
/// pooling works on the bytes and global average pooling reads them. What has no integer form (LayerNorm,
/// attention's softmax, GELU, a Linear's output) runs in float, so the result is exactly what the QDQ export says.
/// A tree file without points runs with float between its integer layers, as it was written to.
public final class Int8TreeNetwork {
    let network: Network
    let kernels: [String: Int8TreeKernel]
    let points: [String: ActivationQuantization]

    public init(_ model: QuantizedModel) throws {
        let float = model.float
        network = try Network(float.spec, architecture: float.architecture, seed: 0)
        let source = Dictionary(float.namedParameters.map { ($0.name, $0.parameter) }, uniquingKeysWith: { a, _ in a })
        for (name, parameter) in network.namedParameters {
            guard let original = source[name] else { throw NeuralNetError("int8 runtime: '\(name)' has no weights in the quantized model") }
            parameter.value = original.value
        }
        let modules = Dictionary(network.namedModules.map { ($0.path, $0.layer) }, uniquingKeysWith: { a, _ in a })
        var kernels: [String: Int8TreeKernel] = [:]
        for layer in model.layers {
            switch modules[layer.path] {
            case let linear as Linear:
                let kernel = Int8LinearKernel(layer, linear)
                linear.layerOverride = kernel
                kernels[layer.path] = kernel
            case let conv as Conv2d:
                let kernel = Int8ConvolutionKernel(layer, conv, output: model.points[layer.path])
                conv.layerOverride = kernel
                kernels[layer.path] = kernel
            case let other?:
                throw NeuralNetError.inside(layer.path, NeuralNetError("the int8 runtime runs Conv2d and Linear layers in integers, not \(other.summary)"))
            case nil:
                throw NeuralNetError("quantized layer '\(layer.path)' is not in \(float.spec.text)")
            }
        }
        self.kernels = kernels
        points = model.points
    }

    /// oneDNN's int8 convolutions where it has them (and the processor has VNNI); off, every conv runs as im2row +
    /// GEMM per group (tests compare the two).
    public var useConvolutionPrimitives: Bool {
        get { kernels.values.compactMap { $0 as? Int8ConvolutionKernel }.allSatisfy(\.usePrimitive) }
        set { for case let conv as Int8ConvolutionKernel in kernels.values { conv.usePrimitive = newValue } }
    }

    /// x: (batch, input...) as the model takes it -> its output, e.g. logits (batch, classes).
    public func forward(_ x: Tensor) -> Tensor {
        var evaluation = Int8TreeEvaluation(kernels: kernels, points: points)
        return evaluation.run(network.root, path: "", .float(x)).float
    }
}

extension QuantizedModel {
    /// The int8 runtime for this model: uint8 end to end for an mlp: or cnn: chain (`Int8Network`), uint8 between
    /// the quantization points of a tree (`Int8TreeNetwork`).
    public func runtime() throws -> (Tensor) -> Tensor {
        if float.namedModules.allSatisfy({ $0.layer.children.isEmpty }) {
            let network = try Int8Network(self)
            return { network.forward($0) }
        }
        let network = try Int8TreeNetwork(self)
        return { network.forward($0) }
    }
}

/// An activation of the tree runtime: float, or uint8 NHWC on a grid with its NCHW shape.
enum Int8Activation {
    case float(Tensor)
    case bytes([UInt8], shape: [Int], grid: ActivationQuantization)

    var float: Tensor {
        switch self {
        case let .float(x): return x
        case let .bytes(q, shape, grid):
            let values = Int8TreeKernels.dequantize(q, grid)
            guard shape.count == 4 else { return Tensor(shape: shape, scalars: values) }
            return Tensor(shape: shape, scalars: Int8TreeKernels.nchw(fromNHWC: values, batch: shape[0], channels: shape[1], plane: shape[2] * shape[3]))
        }
    }
}

extension Int8Activation {
    /// `x` on `grid`, NHWC when it has planes.
    static func quantized(_ x: Tensor, _ grid: ActivationQuantization) -> Int8Activation {
        .bytes(x.rank == 4 ? Int8TreeKernels.quantizeToNHWC(x, grid) : Int8TreeKernels.quantize(x.scalars, grid), shape: x.shape, grid: grid)
    }

    /// NHWC bytes on `grid`: these bytes when already there, else requantized (or quantized from float).
    func bytes(on grid: ActivationQuantization) -> [UInt8] {
        switch self {
        case let .bytes(q, _, g) where g == grid: return q
        case let .bytes(q, _, g): return Int8TreeKernels.add([(q, g)], onto: grid)
        case let .float(x): return x.rank == 4 ? Int8TreeKernels.quantizeToNHWC(x, grid) : Int8TreeKernels.quantize(x.scalars, grid)
        }
    }

    var shape: [Int] {
        switch self {
        case let .float(x): return x.shape
        case let .bytes(_, shape, _): return shape
        }
    }
}

/// The tree runtime's handling of each leaf and add (`TreeEvaluation`).
struct Int8TreeEvaluation: TreeEvaluation {
    let kernels: [String: Int8TreeKernel]
    let points: [String: ActivationQuantization]

    func leaf(_ layer: Layer, path: String, _ x: Int8Activation, soleReader: Bool) -> Int8Activation {
        if let conv = kernels[path] as? Int8ConvolutionKernel { return conv.evaluate(x) }
        if case let .bytes(q, shape, grid) = x {
            switch layer {
            case is ReLU:
                return .bytes(Int8TreeKernels.clamp(q, low: grid.zero, high: 255), shape: shape, grid: grid)
            case is ReLU6:
                return .bytes(Int8TreeKernels.clamp(q, low: grid.zero, high: grid.quantize(6)), shape: shape, grid: grid)
            case is Dropout:
                return x
            case let pool as MaxPool2d where shape.count == 4:
                let pooled = Int8Network.maxPool(q, batch: shape[0], shape: (shape[2], shape[3], shape[1]), kernel: pool.kernel)
                return .bytes(pooled, shape: [shape[0], shape[1], shape[2] / pool.kernel, shape[3] / pool.kernel], grid: grid)
            case is GlobalAvgPool2d where shape.count == 4:
                return .float(Int8TreeKernels.channelMeans(q, grid, shape: shape))
            default:
                break
            }
        }
        return .float(layer.forward(x.float, training: false))
    }

    func add(_ values: [Int8Activation], key: String) -> Int8Activation {
        if let grid = points[key] {
            let inputs = values.compactMap { value -> ([UInt8], ActivationQuantization)? in
                if case let .bytes(q, _, g) = value { return (q, g) }
                return nil
            }
            if inputs.count == values.count, case let .bytes(_, shape, _) = values[0] {
                return .bytes(Int8TreeKernels.add(inputs, onto: grid), shape: shape, grid: grid)
            }
        }
        let sum = QuantizationPoints.sum(values.map(\.float))
        return points[key].map { Int8Activation.quantized(sum, $0) } ?? .float(sum)
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

/// NHWC bytes on the input grid (snapped there from float or another grid); oneDNN's int8 convolution (grouped and
/// depthwise too), or im2row + GEMM per group where oneDNN has none; out as bytes on the layer's point, or as
/// float for a tree file without points.
final class Int8ConvolutionKernel: Int8TreeKernel {
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    let input: ActivationQuantization
    let output: ActivationQuantization?
    /// Per group (out / groups, k, k, in / groups) rows for the GEMM path.
    let groupGemms: [Int8Network.Gemm]
    let primitives: ConvolutionPrimitives
    var usePrimitive = Int8GEMM.hasDotProductInstructions

    init(_ layer: QuantizedModel.Layer, _ conv: Conv2d, output: ActivationQuantization?) {
        inChannels = conv.inChannels; outChannels = conv.outChannels; kernel = conv.kernel; stride = conv.stride
        padding = conv.padding; groups = conv.groups
        input = layer.input
        self.output = output
        primitives = ConvolutionPrimitives(layer, conv, next: output)
        let outScale = output?.scale ?? 1, outZero = Float(output?.zero ?? 0)
        let multipliers = (0..<conv.outChannels).map { layer.input.scale * layer.weights.scale(row: $0) / outScale }
        let offsets = layer.bias.map { $0 / outScale + outZero }
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
                                    multiplier: Array(multipliers[channels]), offset: Array(offsets[channels]), outputsBytes: output != nil)
        }
    }

    func evaluate(_ x: Tensor) -> Tensor { evaluate(.float(x)).float }

    func evaluate(_ x: Int8Activation) -> Int8Activation {
        let inShape = x.shape
        precondition(inShape.count == 4 && inShape[1] == inChannels, "int8 Conv2d(\(inChannels) -> \(outChannels)): input \(inShape)")
        let (batch, height, width) = (inShape[0], inShape[2], inShape[3])
        let oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1
        let shape = [batch, outChannels, oh, ow]
        guard batch > 0 else { return .float(Tensor(zeros: shape)) }
        let bytes = x.bytes(on: input)
        if let output {
            return .bytes(compute(bytes, batch: batch, height: height, width: width, zero: UInt8(0)), shape: shape, grid: output)
        }
        let nhwc = compute(bytes, batch: batch, height: height, width: width, zero: Float(0))
        return .float(Tensor(shape: shape, scalars: Int8TreeKernels.nchw(fromNHWC: nhwc, batch: batch, channels: outChannels, plane: oh * ow)))
    }

    /// The NHWC output, as bytes (`output` set) or floats; `zero` only picks the element type.
    private func compute<Element: Int8ConvolutionOutput>(_ bytes: [UInt8], batch: Int, height: Int, width: Int, zero: Element) -> [Element] {
        let count = batch * primitives.outputCount(height: height, width: width)
        if usePrimitive, let primitive = primitives.convolution(batch: batch, height: height, width: width) {
            return [Element](unsafeUninitializedCapacity: count) { dst, initialized in
                bytes.withUnsafeBufferPointer { Element.run(primitive, src: $0.baseAddress!, dst: dst.baseAddress!) }
                initialized = count
            }
        }
        var nhwc = [Element](repeating: zero, count: count)
        // One GEMM per group over (batch * oh * ow) rows, each writing its columns of the NHWC output.
        let groupIn = inChannels / groups, groupOut = outChannels / groups, rows = count / outChannels
        for (g, gemm) in groupGemms.enumerated() {
            let slice = groups == 1 ? bytes : Int8TreeKernels.channels(bytes, count: inChannels, range: (g * groupIn)..<((g + 1) * groupIn))
            let patches = Int8Network.im2row(slice, batch: batch, shape: (height, width, groupIn), kernel: kernel, stride: stride,
                                             padding: padding, fill: input.zero)
            var floats = Tensor(zeros: output == nil ? [rows, groupOut] : [0])
            let out = Int8Network.run(gemm, patches, rows: rows, logits: &floats)
            for r in 0..<rows {
                for o in 0..<groupOut {
                    nhwc[r * outChannels + g * groupOut + o] = output == nil ? Element(float: floats.scalars[r * groupOut + o]) : Element(byte: out[r * groupOut + o])
                }
            }
        }
        return nhwc
    }
}

/// The two element types a tree's int8 convolution writes.
protocol Int8ConvolutionOutput {
    init(float: Float)
    init(byte: UInt8)
    static func run(_ convolution: Int8Convolution, src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<Self>)
}

extension Float: Int8ConvolutionOutput {
    init(float: Float) { self = float }
    init(byte: UInt8) { self = Float(byte) }
    static func run(_ convolution: Int8Convolution, src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<Float>) { convolution.run(src: src, dst: dst) }
}

extension UInt8: Int8ConvolutionOutput {
    init(float: Float) { self = roundToByte(float) }
    init(byte: UInt8) { self = byte }
    static func run(_ convolution: Int8Convolution, src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>) { convolution.run(src: src, dst: dst) }
}
