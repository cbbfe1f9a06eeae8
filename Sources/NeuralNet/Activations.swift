import Compute

/// max(x, 0), any shape.
public final class ReLU: Layer {
    private var output = Tensor(zeros: [0])
    public init() {}
    public var summary: String { "ReLU" }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = x
        if y.count > 0 { y.scalars.withUnsafeMutableBufferPointer { Elementwise.relu($0) } }
        output = y
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(output.shape == dy.shape, "ReLU.backward without a matching forward")
        var dx = dy
        guard dx.count > 0 else { return dx }
        dx.scalars.withUnsafeMutableBufferPointer { g in
            output.scalars.withUnsafeBufferPointer { Elementwise.reluBackward(g, output: $0) }
        }
        return dx
    }
}

/// min(max(x, 0), 6), any shape: MobileNet's activation, bounded so it survives low precision.
public final class ReLU6: Layer {
    private var output = Tensor(zeros: [0])
    public init() {}
    public var summary: String { "ReLU6" }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = x
        if y.count > 0 { y.scalars.withUnsafeMutableBufferPointer { Elementwise.relu6($0) } }
        output = y
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        precondition(output.shape == dy.shape, "ReLU6.backward without a matching forward")
        var dx = dy
        guard dx.count > 0 else { return dx }
        dx.scalars.withUnsafeMutableBufferPointer { g in
            output.scalars.withUnsafeBufferPointer { Elementwise.relu6Backward(g, output: $0) }
        }
        return dx
    }
}

/// Inverted dropout: zeroes each element with probability p while training and scales the rest by 1/(1-p).
/// Its masks come from its own seeded stream, so runs are reproducible.
public final class Dropout: Layer {
    public let rate: Float
    private var rng: SeededRandom
    private var mask: [Float] = []

    public init(rate: Float, seed: UInt64) {
        self.rate = rate
        self.rng = SeededRandom(seed: seed, stream: 0xD120)
    }

    public var summary: String { "Dropout(p=\(rate))" }
    public func outputShape(for input: [Int]) throws -> [Int] { input }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, rate > 0 else { mask = []; return x }
        let keep = 1 - rate, scale = 1 / keep
        mask = (0..<x.count).map { _ in rng.nextFloat() < keep ? scale : 0 }
        var y = x
        for i in 0..<y.count { y.scalars[i] *= mask[i] }
        return y
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        guard needInputGradient else { return nil }
        guard rate > 0, !mask.isEmpty else { return dy }  // after an evaluation forward: identity
        precondition(mask.count == dy.count, "Dropout.backward without a matching forward")
        var dx = dy
        for i in 0..<dx.count { dx.scalars[i] *= mask[i] }
        return dx
    }
}

/// (batch, d1, d2, ...) -> (batch, d1 * d2 * ...)
public final class Flatten: Layer {
    private var inputShape: [Int] = []
    public init() {}
    public var summary: String { "Flatten" }
    public func outputShape(for input: [Int]) throws -> [Int] { [input.reduce(1, *)] }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        return x.reshaped([x.shape[0], x.shape.dropFirst().reduce(1, *)])
    }

    public func backward(_ dy: Tensor, needInputGradient: Bool) -> Tensor? {
        needInputGradient ? dy.reshaped(inputShape) : nil
    }
}
