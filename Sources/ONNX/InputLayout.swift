/// How a data set's samples (stored (c, h, w), or flat) reach an ONNX graph's input: as stored when the shapes
/// agree (up to axes of size 1, which do not change the order of the values), flat when the graph takes a vector
/// (the (c, h, w) order PyTorch's `x.view(n, -1)` gives), transposed to (h, w, c) for a channels-last graph. Any
/// other pairing is refused with both layouts named: element counts alone never decide.
public enum InputLayout: Equatable, Sendable {
    case asStored
    /// Samples (c, h, w) -> (h, w, c).
    case channelsLast(channels: Int, height: Int, width: Int)

    public init(data: [Int], model: [Int], source: String) throws {
        let squeeze = { (shape: [Int]) in shape.filter { $0 != 1 } }
        if squeeze(data) == squeeze(model) || (model.count == 1 && model[0] == data.reduce(1, *)) {
            self = .asStored
            return
        }
        if data.count == 3, model == [data[1], data[2], data[0]] {
            self = .channelsLast(channels: data[0], height: data[1], width: data[2])
            return
        }
        let layout = data.count == 3 ? "(c, h, w) = \(Self.text(data))" : "\(Self.text(data))"
        throw OnnxError(file: source, "the graph's input takes samples \(Self.text(model)) but the data's images are \(layout): "
            + "neither the same layout, (h, w, c) nor flat; export the model for that layout or convert the data")
    }

    /// One batch's values in the graph's layout.
    func arrange(_ values: ArraySlice<Float>) -> [Float] {
        switch self {
        case .asStored:
            return Array(values)
        case let .channelsLast(c, h, w):
            let sample = c * h * w
            var out = [Float](repeating: 0, count: values.count)
            let base = values.startIndex
            for n in 0..<(values.count / sample) {
                for ch in 0..<c {
                    for y in 0..<h {
                        for x in 0..<w { out[n * sample + (y * w + x) * c + ch] = values[base + n * sample + (ch * h + y) * w + x] }
                    }
                }
            }
            return out
        }
    }

    private static func text(_ shape: [Int]) -> String { "(" + shape.map(String.init).joined(separator: ", ") + ")" }
}
