import Foundation

/// QuantizeLinear and DequantizeLinear (per tensor, or per axis with 1-D scales), simulated in float and int64:
/// enough to run int8 QDQ graphs, ours included, with ONNX's rounding (half to even) and saturation.
enum QuantizationOperators {
    static let table: [String: Operator] = [
        "QuantizeLinear": Operator(["axis", "saturate", "block_size"]) { c in
            let x = try c.input(0, "x")
            let values = try x.floats(c.label, "x")
            // The zero point's element type is the output's (uint8 when it is left out).
            let type = c.inputType(2) ?? .uint8
            let range: ClosedRange<Float>
            switch type {
            case .uint8: range = 0...255
            case .int8: range = -128...127
            case .int32: range = Float(Int32.min)...Float(Int32.max)
            default: throw c.error("quantizing to \(type) is not supported (uint8, int8, int32)")
            }
            let (scale, zero) = try parameters(c, shape: x.shape)
            let q = values.indices.map { i -> Int64 in
                let v = (values[i] / scale(i)).rounded(.toNearestOrEven) + Float(zero(i))
                return Int64(min(max(v, range.lowerBound), range.upperBound))
            }
            return [OnnxValue(shape: x.shape, ints: q)]
        },
        "DequantizeLinear": Operator(["axis", "block_size"]) { c in
            let x = try c.input(0, "x")
            let values = try x.ints(c.label, "x")
            let (scale, zero) = try parameters(c, shape: x.shape)
            return [OnnxValue(shape: x.shape, floats: values.indices.map { Float(values[$0] - zero($0)) * scale($0) })]
        },
    ]

    /// Scale and zero point of each flat position: one for the tensor, or one per index along `axis`.
    static func parameters(_ c: NodeContext, shape: [Int]) throws -> (scale: (Int) -> Float, zero: (Int) -> Int64) {
        let scales = try c.floats(1, "scale")
        let zeros = try c.optionalInput(2).map { try $0.ints(c.label, "zero_point") } ?? [Int64](repeating: 0, count: scales.count)
        guard zeros.count == scales.count, !scales.isEmpty else {
            throw c.error("scale (\(scales.count) values) and zero_point (\(zeros.count)) must match")
        }
        if scales.count == 1 { return ({ _ in scales[0] }, { _ in zeros[0] }) }
        let axis = try c.axis(try c.int("axis", default: 1), rank: shape.count)
        guard shape[axis] == scales.count else { throw c.error("axis \(axis) has \(shape[axis]) entries but there are \(scales.count) scales") }
        let inner = shape[(axis + 1)...].reduce(1, *), size = shape[axis]
        return ({ scales[($0 / inner) % size] }, { zeros[($0 / inner) % size] })
    }
}
