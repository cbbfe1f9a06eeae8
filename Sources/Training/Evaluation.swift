import Compute
import Foundation
import Datasets
import NeuralNet

/// Accuracy and mean cross-entropy of a model on a labelled set (for a language model, over every position: the
/// loss in nats per byte).
public enum Evaluation {
    public struct Result: Sendable, Equatable {
        public var accuracy: Double
        public var loss: Double
        public var samples: Int
        /// A byte-level model's loss in bits per byte.
        public var bitsPerByte: Double { loss / log(2) }

        public init(accuracy: Double, loss: Double, samples: Int) {
            self.accuracy = accuracy; self.loss = loss; self.samples = samples
        }
    }

    public static func run(_ model: Network, on data: LabeledImages, normalization: Normalization?,
                           batchSize: Int = 1000) -> Result {
        run({ model.forward($0, training: false) }, on: data, normalization: normalization, batchSize: batchSize)
    }

    /// The same for any inference function from normalised images to logits (the int8 runtime's, say).
    public static func run(_ forward: (Tensor) throws -> Tensor, on data: LabeledImages, normalization: Normalization?,
                           batchSize: Int = 1000) rethrows -> Result {
        var correct = 0, scored = 0
        var lossSum = 0.0
        var start = 0
        while start < data.count {
            let indices = Array(start..<min(start + batchSize, data.count))
            let batch = data.batch(indices, normalization: normalization)
            let logits = try forward(batch.images)
            let rows = logits.rank > 2 ? logits.reshaped([logits.count / logits.shape.last!, logits.shape.last!]) : logits
            correct += countCorrect(rows, batch.labels)
            scored += batch.labels.count
            lossSum += Double(CrossEntropy.compute(logits: rows, labels: batch.labels).loss) * Double(indices.count)
            start += batchSize
        }
        // A language model is scored at every position: accuracy over positions, loss the mean per position.
        return Result(accuracy: Double(correct) / Double(max(scored, 1)), loss: lossSum / Double(max(data.count, 1)), samples: data.count)
    }

    /// Rows whose largest logit sits at the label.
    public static func countCorrect(_ logits: Tensor, _ labels: [Int32]) -> Int {
        let classes = logits.shape[1]
        var correct = 0
        logits.scalars.withUnsafeBufferPointer { p in
            for (r, label) in labels.enumerated() {
                var best = 0
                for j in 1..<classes where p[r * classes + j] > p[r * classes + best] { best = j }
                if best == Int(label) { correct += 1 }
            }
        }
        return correct
    }
}
