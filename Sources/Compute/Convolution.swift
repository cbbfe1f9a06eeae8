import CDNNL
import Foundation

/// oneDNN's direct convolution for inference on NCHW floats: one primitive per geometry (batch included),
/// created on first use and kept, since creating one costs far more than running it.
public final class ConvolutionPrimitive: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable {
        public var batch: Int, channels: Int, height: Int, width: Int
        public var outChannels: Int, groups: Int
        public var kernelHeight: Int, kernelWidth: Int
        public var strideHeight: Int, strideWidth: Int
        public var dilationHeight: Int, dilationWidth: Int
        /// top, left, bottom, right
        public var pads: [Int]
        public var hasBias: Bool

        public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, groups: Int = 1,
                    kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int) = (1, 1), pads: [Int], hasBias: Bool) {
            self.batch = batch; self.channels = channels; self.height = height; self.width = width
            self.outChannels = outChannels; self.groups = groups
            (kernelHeight, kernelWidth) = kernel
            (strideHeight, strideWidth) = stride
            (dilationHeight, dilationWidth) = dilation
            self.pads = pads; self.hasBias = hasBias
        }

        public var outHeight: Int { (height + pads[0] + pads[2] - ((kernelHeight - 1) * dilationHeight + 1)) / strideHeight + 1 }
        public var outWidth: Int { (width + pads[1] + pads[3] - ((kernelWidth - 1) * dilationWidth + 1)) / strideWidth + 1 }
    }

    public let geometry: Geometry
    private let handle: OpaquePointer
    /// A run points the primitive's memory at the caller's buffers: one run at a time.
    private let lock = NSLock()

    private static let cache = PrimitiveCache<Geometry, ConvolutionPrimitive>(capacity: 32)

    /// The primitive for `g`, made once per process (nil when oneDNN has no implementation for it).
    public static func cached(_ g: Geometry) -> ConvolutionPrimitive? {
        cache.value(for: g, make: ConvolutionPrimitive.init)
    }

    /// nil when oneDNN has no implementation for the geometry (callers fall back to im2col + GEMM).
    public init?(_ g: Geometry) {
        guard let handle = cdnnl_conv_create(
            Int64(g.batch), Int64(g.channels), Int64(g.height), Int64(g.width), Int64(g.outChannels), Int64(g.groups),
            Int64(g.kernelHeight), Int64(g.kernelWidth), Int64(g.strideHeight), Int64(g.strideWidth),
            Int64(g.dilationHeight), Int64(g.dilationWidth), Int64(g.pads[0]), Int64(g.pads[1]), Int64(g.pads[2]), Int64(g.pads[3]),
            g.hasBias ? 1 : 0) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_conv_destroy(handle) }

    public var implementation: String { String(cString: cdnnl_conv_implementation(handle)) }

    /// dst (batch, outChannels, outHeight, outWidth) = conv(src, weights) + bias.
    public func run(src: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, dst: UnsafeMutablePointer<Float>) {
        lock.lock()
        let status = cdnnl_conv_execute(handle, src, weights, bias, dst)
        lock.unlock()
        // The primitive was created for exactly these sizes: a failure is our bug, not the user's.
        precondition(status == 0, "oneDNN convolution failed with status \(status)")
    }

    /// The same on arrays: dst (batch, outChannels, outHeight, outWidth).
    public func run(src: [Float], weights: [Float], bias: [Float]?) -> [Float] {
        var dst = [Float](repeating: 0, count: geometry.batch * geometry.outChannels * geometry.outHeight * geometry.outWidth)
        src.withUnsafeBufferPointer { s in
            weights.withUnsafeBufferPointer { w in
                dst.withUnsafeMutableBufferPointer { d in
                    guard let bias else { return run(src: s.baseAddress!, weights: w.baseAddress!, bias: nil, dst: d.baseAddress!) }
                    bias.withUnsafeBufferPointer { b in run(src: s.baseAddress!, weights: w.baseAddress!, bias: b.baseAddress!, dst: d.baseAddress!) }
                }
            }
        }
        return dst
    }
}

/// oneDNN's int8 convolution for one layer and batch size: uint8 NHWC in; uint8 NHWC out (the next quantized layer's
/// grid) or, with `floatOutput`, float NHWC (for a float layer next); its int8 weights copied into the primitive once;
/// requantization (per-channel scale, bias in accumulator units, zero points) inside the primitive.
public final class Int8Convolution: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    public let floatOutput: Bool

    /// nil when oneDNN has no implementation for it. `weights` is (out, in / groups, k, k); dst = saturate(round(
    /// scales[o] * (sum((src - sourceZero) * w) + bias[o])) + destinationZero), or unrounded when `floatOutput`.
    public init?(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                 groups: Int = 1, weights: [Int8], bias: [Float], scales: [Float], sourceZero: UInt8, destinationZero: UInt8,
                 floatOutput: Bool = false) {
        precondition(channels % groups == 0 && outChannels % groups == 0)
        precondition(weights.count == outChannels * channels / groups * kernel * kernel && bias.count == outChannels && scales.count == outChannels)
        guard let handle = weights.withUnsafeBufferPointer({ w in
            bias.withUnsafeBufferPointer { b in
                scales.withUnsafeBufferPointer { s in
                    cdnnl_qconv_create(Int64(batch), Int64(channels), Int64(height), Int64(width), Int64(outChannels), Int64(kernel),
                                       Int64(stride), Int64(padding), w.baseAddress, b.baseAddress, s.baseAddress,
                                       Int32(sourceZero), Int32(destinationZero), Int64(groups), floatOutput ? 1 : 0)
                }
            }
        }) else { return nil }
        self.handle = handle
        self.floatOutput = floatOutput
    }

    deinit { cdnnl_qconv_destroy(handle) }

    public var implementation: String { String(cString: cdnnl_qconv_implementation(handle)) }

    public func run(src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>) {
        precondition(!floatOutput, "this int8 convolution writes floats")
        execute(src, UnsafeMutableRawPointer(dst))
    }

    public func run(src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<Float>) {
        precondition(floatOutput, "this int8 convolution writes bytes")
        execute(src, UnsafeMutableRawPointer(dst))
    }

    private func execute(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutableRawPointer) {
        lock.lock()
        let status = cdnnl_qconv_execute(handle, src, dst)
        lock.unlock()
        precondition(status == 0, "oneDNN int8 convolution failed with status \(status)")
    }
}
