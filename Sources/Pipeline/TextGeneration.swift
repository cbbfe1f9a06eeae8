import Compression
import Compute
import Foundation
import NeuralNet

/// `distillery generate`: a byte-level language model continues a prompt, one sampled byte at a time. The model
/// reads a fixed context: the text so far sits at its start (the last `context` bytes once it is longer), and the
/// scores at the text's last position are causal, so what fills the rest of the window cannot change them.
public struct TextGeneration {
    public var tokens: Int
    /// 0 picks the most likely byte (greedy); otherwise the scores are divided by it before the softmax.
    public var temperature: Float
    /// Sample among the k most likely bytes only (0: all of them).
    public var topK: Int
    public var seed: UInt64

    public init(tokens: Int, temperature: Float = 1, topK: Int = 0, seed: UInt64 = 1) {
        self.tokens = tokens; self.temperature = temperature; self.topK = topK; self.seed = seed
    }

    /// The checkpoint at `path` (dense, pruned or int8) continuing `prompt`: the prompt's bytes and the new ones.
    public func run(model path: String, prompt: String) throws -> [UInt8] {
        let contents = try CompressedCheckpoint.load(URL(fileURLWithPath: path))
        guard contents.model.spec.isLanguageModel else {
            throw PipelineError.unsuitableInput("\(path) holds \(contents.model.spec.text), not a language model (gpt:)")
        }
        return try continuation(of: Array(prompt.utf8), context: contents.model.inputShape[0], scores: contents.inference())
    }

    /// `scores`: ids (1, context) -> (1, context, vocabulary).
    public func continuation(of prompt: [UInt8], context: Int, scores: (Tensor) -> Tensor) throws -> [UInt8] {
        var text = prompt.isEmpty ? Array("\n".utf8) : prompt
        var rng = SeededRandom(seed: seed, stream: 0x6E4)
        for _ in 0..<tokens {
            let window = Array(text.suffix(context))
            let ids = window.map(Int32.init) + [Int32](repeating: Int32(UInt8(ascii: " ")), count: context - window.count)
            let output = scores(Tensor(shape: [1, context], indices: ids))
            let vocabulary = output.shape.last!
            let row = Array(output.scalars[((window.count - 1) * vocabulary)..<(window.count * vocabulary)])
            text.append(UInt8(truncatingIfNeeded: pick(row, &rng)))
        }
        return prompt.isEmpty ? Array(text.dropFirst()) : text
    }

    private func pick(_ scores: [Float], _ rng: inout SeededRandom) -> Int {
        let ranked = scores.indices.sorted { scores[$0] > scores[$1] }
        guard temperature > 0 else { return ranked[0] }
        let candidates = topK > 0 ? Array(ranked.prefix(topK)) : ranked
        let top = scores[candidates[0]]
        let weights = candidates.map { exp(Double((scores[$0] - top) / temperature)) }
        var u = Double(rng.nextFloat()) * weights.reduce(0, +)
        for (candidate, weight) in zip(candidates, weights) {
            if u < weight { return candidate }
            u -= weight
        }
        return candidates.last!
    }
}
