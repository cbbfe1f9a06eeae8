/// A dense, row-major Float32 tensor with value semantics (copy-on-write through its array).
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    /// Wraps `scalars` in `shape`; the element counts must agree (our invariant, not user input).
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same scalars seen in another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Rows of a rank-2 view: (shape[0], product of the rest).
    public var rows: Int { shape.first ?? 1 }
    public var rowLength: Int { rows == 0 ? 0 : count / rows }

    public var description: String { "Tensor\(shape)" }
}

extension Array where Element == Int {
    /// The product of the dimensions, or nil when it overflows Int.
    public var checkedProduct: Int? {
        var p = 1
        for d in self {
            let (r, o) = p.multipliedReportingOverflow(by: d)
            if o || d < 0 { return nil }
            p = r
        }
        return p
    }
}
