import Compute
import Testing

/// oneDNN's convolution primitive against the naive reference, on the layouts our tensors use.
@Suite struct ConvolutionPrimitiveTests {
    @Test(arguments: [(1, 3, 1, 1), (2, 4, 2, 0), (3, 8, 1, 2)])
    func matchesTheReference(batch: Int, channels: Int, stride: Int, padding: Int) throws {
        let g = ConvGeometry(batch: batch, channels: channels, height: 9, width: 7, kernel: 3, stride: stride, padding: padding)
        let outChannels = 5
        var rng = SeededRandom(seed: 4)
        let x = (0..<(batch * channels * 63)).map { _ in rng.nextGaussian() }
        let w = (0..<(outChannels * g.patchSize)).map { _ in rng.nextGaussian() }
        let b = (0..<outChannels).map { _ in rng.nextGaussian() }
        let expected = ReferenceConv2d.forward(g, x: x, weight: w, bias: b, outChannels: outChannels)
        let primitive = try #require(ConvolutionPrimitive.cached(.init(
            batch: batch, channels: channels, height: 9, width: 7, outChannels: outChannels, kernel: (3, 3),
            stride: (stride, stride), pads: [padding, padding, padding, padding], hasBias: true)))
        #expect(primitive.geometry.outHeight == g.outHeight && primitive.geometry.outWidth == g.outWidth)
        var out = [Float](repeating: .nan, count: expected.count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        primitive.run(src: xp.baseAddress!, weights: wp.baseAddress!, bias: bp.baseAddress!, dst: op.baseAddress!)
                    }
                }
            }
        }
        let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "max abs difference \(worst)")
    }
}
