/// A dense, row-major tensor with value semantics (copy-on-write through its arrays): Float32 values, or Int32
/// indices (token ids) for the layers that look things up by them.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public enum ElementType: Sendable, Equatable { case float32, int32 }

    public private(set) var shape: [Int]
    public private(set) var elementType: ElementType
    /// The values of a float32 tensor; empty for an int32 one.
    public var scalars: [Float]
    /// The values of an int32 tensor; empty for a float32 one.
    public var indices: [Int32]

    /// Wraps `scalars` in `shape`; the element counts must agree (our invariant, not user input).
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
        elementType = .float32
        indices = []
    }

    /// An int32 tensor: token ids and other indices.
    public init(shape: [Int], indices: [Int32]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == indices.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(indices.count)")
        self.shape = shape
        self.indices = indices
        elementType = .int32
        scalars = []
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { elementType == .float32 ? scalars.count : indices.count }
    public var rank: Int { shape.count }

    /// The same elements seen in another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        elementType == .float32 ? Tensor(shape: newShape, scalars: scalars) : Tensor(shape: newShape, indices: indices)
    }

    /// Rows of a rank-2 view: (shape[0], product of the rest).
    public var rows: Int { shape.first ?? 1 }
    public var rowLength: Int { rows == 0 ? 0 : count / rows }

    /// Rows `range` of the first axis, either element type.
    public func rows(_ range: Range<Int>) -> Tensor {
        let shape = [range.count] + self.shape.dropFirst(), per = rowLength
        let slice = (range.lowerBound * per)..<(range.upperBound * per)
        return elementType == .float32 ? Tensor(shape: shape, scalars: Array(scalars[slice])) : Tensor(shape: shape, indices: Array(indices[slice]))
    }

    /// Scores (batch, ..., classes) as (rows, classes): a language model's positions become rows.
    public var asRows: Tensor { rank > 2 ? reshaped([count / shape.last!, shape.last!]) : self }

    public var description: String { elementType == .float32 ? "Tensor\(shape)" : "Tensor<int32>\(shape)" }
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
