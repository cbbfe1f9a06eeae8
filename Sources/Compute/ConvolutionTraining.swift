import CDNNL
import Foundation

/// oneDNN's convolution for training on NCHW floats: forward, backward to the input and to the weights and bias,
/// one set of primitives per geometry (batch included), made on first use and kept.
public final class ConvolutionTraining: @unchecked Sendable {
    public struct Geometry: Hashable, Sendable {
        public var batch: Int, channels: Int, height: Int, width: Int
        public var outChannels: Int, groups: Int, kernel: Int, stride: Int, padding: Int

        public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, groups: Int, kernel: Int,
                    stride: Int, padding: Int) {
            self.batch = batch; self.channels = channels; self.height = height; self.width = width
            self.outChannels = outChannels; self.groups = groups; self.kernel = kernel; self.stride = stride; self.padding = padding
        }

        public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
        public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    }

    public let geometry: Geometry
    private let handle: OpaquePointer
    /// A run points the primitives at the caller's buffers: one run at a time.
    private let lock = NSLock()

    private static let cache = PrimitiveCache<Geometry, ConvolutionTraining>(capacity: 64)

    /// The primitives for `g`, made once per process; nil when oneDNN has none (callers use im2col + GEMM).
    public static func cached(_ g: Geometry) -> ConvolutionTraining? {
        cache.value(for: g, make: ConvolutionTraining.init)
    }

    public init?(_ g: Geometry) {
        guard let handle = cdnnl_conv_training_create(
            Int64(g.batch), Int64(g.channels), Int64(g.height), Int64(g.width), Int64(g.outChannels), Int64(g.groups),
            Int64(g.kernel), Int64(g.stride), Int64(g.padding)) else { return nil }
        self.handle = handle
        geometry = g
    }

    deinit { cdnnl_conv_training_destroy(handle) }

    public var implementation: String { String(cString: cdnnl_conv_training_implementation(handle)) }

    /// dst (batch, out, oh, ow) = conv(src, weights) + bias.
    public func forward(src: [Float], weights: [Float], bias: [Float]) -> [Float] {
        let g = geometry
        var dst = [Float](repeating: 0, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        src.withUnsafeBufferPointer { s in
            weights.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    dst.withUnsafeMutableBufferPointer { d in
                        lock.lock()
                        let status = cdnnl_conv_training_forward(handle, s.baseAddress, w.baseAddress, b.baseAddress, d.baseAddress)
                        lock.unlock()
                        // The primitive was created for exactly these sizes: a failure is our bug, not the user's.
                        precondition(status == 0, "oneDNN convolution forward failed with status \(status)")
                    }
                }
            }
        }
        return dst
    }

    /// Writes dW and db; returns dx when asked.
    public func backward(src: [Float], weights: [Float], diffDst: [Float], diffWeights: inout [Float], diffBias: inout [Float],
                         needInputGradient: Bool) -> [Float]? {
        var diffSrc = [Float](repeating: 0, count: needInputGradient ? src.count : 0)
        src.withUnsafeBufferPointer { s in
            weights.withUnsafeBufferPointer { w in
                diffDst.withUnsafeBufferPointer { dy in
                    diffWeights.withUnsafeMutableBufferPointer { dw in
                        diffBias.withUnsafeMutableBufferPointer { db in
                            diffSrc.withUnsafeMutableBufferPointer { dx in
                                lock.lock()
                                let status = cdnnl_conv_training_backward(handle, s.baseAddress, w.baseAddress, dy.baseAddress,
                                                                          needInputGradient ? dx.baseAddress : nil, dw.baseAddress, db.baseAddress)
                                lock.unlock()
                                precondition(status == 0, "oneDNN convolution backward failed with status \(status)")
                            }
                        }
                    }
                }
            }
        }
        return needInputGradient ? diffSrc : nil
    }
}
