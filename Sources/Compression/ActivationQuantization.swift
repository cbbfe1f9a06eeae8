import Foundation

/// How a tensor of activations maps to uint8: q = clamp(round(x / scale) + zero, 0, 255). Non-negative
/// activations (after ReLU) use the whole range with zero 0; signed ones are symmetric around zero 128.
public struct ActivationQuantization: Equatable, Sendable {
    public var scale: Float
    public var zero: UInt8

    public init(scale: Float, zero: UInt8) { self.scale = scale; self.zero = zero }

    /// The calibration rules (CompressionSettings).
    public typealias Calibration = CalibrationRule

    /// Calibrates from a sample of the activations.
    public static func calibrate(_ values: [Float], method: Calibration) -> ActivationQuantization {
        let signed = values.contains { $0 < 0 }
        let levels: Float = signed ? 127 : 255
        let magnitudes = values.map(abs)
        let largest = magnitudes.max() ?? 0
        var clip: Float
        switch method {
        case .minmax:
            clip = largest
        case .percentile:
            let sorted = magnitudes.sorted()
            clip = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * 0.9999).rounded()))]
        case .mse:
            clip = largest
            var best = Float.infinity
            for step in stride(from: 20, through: 100, by: 1) {
                let candidate = largest * Float(step) / 100
                let error = meanSquaredError(values, clip: candidate, levels: levels, signed: signed)
                if error < best { best = error; clip = candidate }
            }
        }
        let scale = clip > 0 ? clip / levels : 1
        return ActivationQuantization(scale: scale, zero: signed ? 128 : 0)
    }

    private static func meanSquaredError(_ values: [Float], clip: Float, levels: Float, signed: Bool) -> Float {
        guard clip > 0 else { return .infinity }
        let scale = clip / levels, low: Float = signed ? -127 : 0
        var sum: Float = 0
        for v in values {
            let q = min(max((v / scale).rounded(), low), levels)
            let e = v - q * scale
            sum += e * e
        }
        return sum / Float(max(values.count, 1))
    }

    public func quantize(_ x: Float) -> UInt8 {
        UInt8(min(max((x / scale).rounded() + Float(zero), 0), 255))
    }

    public func dequantize(_ q: UInt8) -> Float { (Float(q) - Float(zero)) * scale }
}

/// Symmetric int8 weights: w ≈ q * scale with q in -127...127 and scale = max|w| / 127, for the whole tensor or per
/// output channel (row of the (out, ...) weight).
public struct QuantizedWeights: Equatable, Sendable {
    public var values: [Int8]
    /// One scale, or one per output channel.
    public var scales: [Float]
    public var shape: [Int]

    public init(values: [Int8], scales: [Float], shape: [Int]) {
        self.values = values; self.scales = scales; self.shape = shape
    }

    public init(_ weights: [Float], shape: [Int], perChannel: Bool) {
        let rows = perChannel ? shape[0] : 1
        let width = weights.count / max(rows, 1)
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            let row = weights[(r * width)..<((r + 1) * width)]
            let largest = row.map(abs).max() ?? 0
            let scale = largest > 0 ? largest / 127 : 1
            scales[r] = scale
            for i in row.indices { values[i] = Int8(min(max((weights[i] / scale).rounded(), -127), 127)) }
        }
        self.init(values: values, scales: scales, shape: shape)
    }

    /// The scale of output channel `row`.
    public func scale(row: Int) -> Float { scales.count == 1 ? scales[0] : scales[row] }

    public func dequantized() -> [Float] {
        let width = values.count / max(shape[0], 1)
        return values.enumerated().map { i, q in Float(q) * scale(row: i / max(width, 1)) }
    }
}
