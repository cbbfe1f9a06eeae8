import Compute

/// Per-channel (x - mean) / std, recorded in checkpoints so evaluation sees what training saw.
public struct Normalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "mean and std need one value per channel")
        self.mean = mean
        self.std = std
    }

    /// Mean and standard deviation of each channel over a data set.
    public static func fitted(to data: LabeledImages) -> Normalization {
        let channels = data.sampleShape.count == 3 ? data.sampleShape[0] : 1
        let plane = data.sampleSize / channels
        var sums = [Double](repeating: 0, count: channels), squares = sums
        for i in 0..<data.count {
            for c in 0..<channels {
                let base = (i * channels + c) * plane
                for j in base..<(base + plane) {
                    let v = Double(data.images.scalars[j])
                    sums[c] += v; squares[c] += v * v
                }
            }
        }
        let n = Double(data.count * plane)
        let mean = sums.map { $0 / n }
        let std = zip(squares, mean).map { max(($0 / n - $1 * $1), 1e-12).squareRoot() }
        return Normalization(mean: mean.map(Float.init), std: std.map(Float.init))
    }

    /// Parses "MEAN,STD" (one channel) or "M1/M2/M3,S1/S2/S3".
    public init(parsing text: String) throws {
        let halves = text.split(separator: ",")
        let values = halves.map { $0.split(separator: "/").map { Float($0.trimmingCharacters(in: .whitespaces)) } }
        guard values.count == 2, let mean = values[0] as? [Float], let std = values[1] as? [Float],
              mean.count == std.count, !mean.isEmpty, std.allSatisfy({ $0 > 0 }) else {
            throw DatasetError(text, "normalisation must be MEAN,STD (e.g. 0.2860,0.3530) or M1/M2/M3,S1/S2/S3 with positive std")
        }
        self.init(mean: mean, std: std)
    }

    /// A normalisation setting as commands and jobs spell it: none, auto (fitted to `data`) or MEAN,STD.
    public static func setting(_ text: String, fittingTo data: @autoclosure () -> LabeledImages) throws -> Normalization? {
        try NormalizationSetting(parsing: text).resolve(fittingTo: data())
    }

    public var text: String {
        mean.map { "\($0)" }.joined(separator: "/") + "," + std.map { "\($0)" }.joined(separator: "/")
    }

    /// Normalises a batch (batch, c, ...) in place.
    public func apply(to batch: inout Tensor) {
        let channels = mean.count
        let plane = batch.rowLength / channels, rows = batch.rows
        batch.scalars.withUnsafeMutableBufferPointer { p in
            for row in 0..<rows {
                for c in 0..<channels {
                    let m = mean[c], s = 1 / std[c]
                    let base = (row * channels + c) * plane
                    for j in base..<(base + plane) { p[j] = (p[j] - m) * s }
                }
            }
        }
    }
}

import Foundation
