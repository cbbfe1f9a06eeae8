import Compute
import Foundation
import SafeTensors
import Testing
import TestSupport
@testable import NeuralNet

/// The transformer's layers and the gpt: family: gradients against finite differences, the oneDNN attention
/// against its plain twin, causality, names, weight tying, the stored form.
@Suite struct TransformerTests {
    static func tokens(_ shape: [Int], vocab: Int, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor(shape: shape, indices: (0..<shape.reduce(1, *)).map { _ in Int32(rng.nextInt(below: vocab)) })
    }

    @Test func attentionMatchesItsReferenceTwinAndFiniteDifferences() throws {
        var rng = SeededRandom(seed: 1)
        let fast = CausalSelfAttention(features: 8, heads: 2, rng: &rng)
        rng = SeededRandom(seed: 1)
        let slow = CausalSelfAttention(features: 8, heads: 2, rng: &rng)
        slow.usesReferencePath = true
        let x = GradientCheck.randomTensor([3, 5, 8], seed: 2), r = GradientCheck.randomTensor([3, 5, 8], seed: 3)
        let (yFast, ySlow) = (fast.forward(x, training: true), slow.forward(x, training: true))
        #expect(zip(yFast.scalars, ySlow.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let (dxFast, dxSlow) = (fast.backward(r, needInputGradient: true)!, slow.backward(r, needInputGradient: true)!)
        #expect(zip(dxFast.scalars, dxSlow.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        for (a, b) in zip(fast.namedParameters(), slow.namedParameters()) {
            #expect(zip(a.parameter.grad.scalars, b.parameter.grad.scalars).allSatisfy { abs($0 - $1) < 1e-5 }, "\(a.name)")
        }
        for layer in [fast, slow] {
            let mismatches = GradientCheck.check(layer, input: x, epsilon: 1e-2)
            #expect(mismatches.isEmpty, "reference \(layer.usesReferencePath): \(mismatches.prefix(4))")
        }
    }

    @Test func attentionSeesOnlyEarlierPositions() {
        var rng = SeededRandom(seed: 4)
        let attention = CausalSelfAttention(features: 6, heads: 3, rng: &rng)
        var x = GradientCheck.randomTensor([2, 7, 6], seed: 5)
        let before = attention.forward(x, training: false)
        for j in 0..<6 { x.scalars[(7 + 4) * 6 + j] += 1 }  // sample 1, position 4
        let after = attention.forward(x, training: false)
        for position in 0..<7 {
            let range = ((7 + position) * 6)..<((7 + position + 1) * 6)
            let moved = zip(before.scalars[range], after.scalars[range]).contains { $0 != $1 }
            #expect(moved == (position >= 4), "position \(position)")
        }
        #expect(before.scalars[0..<42] == after.scalars[0..<42], "the other sample is untouched")
    }

    @Test func embeddingsMatchFiniteDifferences() throws {
        var rng = SeededRandom(seed: 6)
        let table = Embedding(count: 7, features: 4, rng: &rng)
        let ids = Self.tokens([3, 5], vocab: 7, seed: 7)
        #expect(table.forward(ids, training: true).shape == [3, 5, 4])
        #expect(GradientCheck.check(table, input: ids).isEmpty)
        let positions = PositionalEmbedding(context: 6, features: 4, rng: &rng)
        #expect(GradientCheck.check(positions, input: GradientCheck.randomTensor([2, 5, 4], seed: 8)).isEmpty)
        #expect(throws: NeuralNetError.self) { try positions.outputShape(for: [7, 4]) }
    }

    @Test func gptHasNanoGPTNamesAndTiesItsHead() throws {
        let tied = try Network(ModelSpec("gpt:vocab=64,ctx=16,layers=2,heads=2,d=32"), seed: 0)
        let names = tied.stateEntries.map(\.name)
        for name in ["tok_emb.weight", "pos_emb.weight", "layers.0.ln1.weight", "layers.0.attn.qkv.weight", "layers.0.attn.proj.bias",
                     "layers.1.mlp.fc.weight", "layers.1.mlp.proj.weight", "ln_f.bias", "lm_head.weight"] {
            #expect(names.contains(name), "\(name) missing")
        }
        #expect(!tied.namedParameters.map(\.name).contains("lm_head.weight"), "a shared table is one parameter")
        let untied = try Network(ModelSpec("gpt:vocab=64,ctx=16,layers=2,heads=2,d=32,tied=0"), seed: 0)
        #expect(untied.parameterCount == tied.parameterCount + 64 * 32)
        // Per block 12 d^2 weights (qkv 3, proj 1, fc 4, mlp proj 4) and 13 d biases and norms; then embeddings and ln_f.
        let perBlock = 12 * 32 * 32 + 13 * 32
        #expect(tied.parameterCount == 64 * 32 + 16 * 32 + 2 * perBlock + 2 * 32)
        #expect(tied.forward(Self.tokens([3, 16], vocab: 64, seed: 1), training: false).shape == [3, 16, 64])
        #expect(tied.forward(Self.tokens([2, 9], vocab: 64, seed: 1), training: false).shape == [2, 9, 64], "shorter than the context")
        #expect(throws: NeuralNetError.self) { try ModelSpec("gpt:vocab=64,ctx=16,layers=2,heads=3,d=32") }
        #expect(throws: NeuralNetError.self) { try ModelSpec("gpt:vocab=64,ctx=16,layers=2,heads=2,d=32,depth=3") }
    }

    @Test func gptGradientsMatchFiniteDifferencesTiedOrNot() throws {
        for spec in ["gpt:vocab=11,ctx=6,layers=1,heads=2,d=8", "gpt:vocab=11,ctx=6,layers=1,heads=2,d=8,tied=0"] {
            let model = try Network(ModelSpec(spec), seed: 3)
            // Tables at unit scale: rows of GPT-2's 0.02 make LayerNorm too curved for differences of 1e-2.
            for (name, parameter) in model.namedParameters where name.hasSuffix("emb.weight") {
                parameter.value.scalars = parameter.value.scalars.map { $0 * 50 }
            }
            let mismatches = GradientCheck.check(model.root, input: Self.tokens([2, 6], vocab: 11, seed: 4), limit: 40)
            #expect(mismatches.isEmpty, "\(spec): \(mismatches.prefix(4))")
        }
    }

    @Test func gptCheckpointsStoreTheSharedTableUnderBothNames() throws {
        let dir = try TestSupport.temporaryDirectory("gpt-checkpoint")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Network(ModelSpec("gpt:vocab=20,ctx=8,layers=1,heads=2,d=8"), seed: 5)
        let url = dir.appendingPathComponent("gpt.safetensors")
        try Checkpoint.save(model, to: url)
        let file = try SafeTensorsFile.read(url)
        #expect(file["lm_head.weight"]?.floats() == file["tok_emb.weight"]?.floats())
        let (loaded, _) = try Checkpoint.load(url)
        let ids = Self.tokens([2, 8], vocab: 20, seed: 6)
        #expect(loaded.forward(ids, training: false) == model.forward(ids, training: false))
        // Two different tables under the tied names are a broken file.
        var tensors = file.tensors
        let index = tensors.firstIndex { $0.name == "lm_head.weight" }!
        tensors[index] = TensorEntry(name: "lm_head.weight", shape: [20, 8], floats: [Float](repeating: 0.5, count: 160))
        try SafeTensorsFile(metadata: file.metadata, tensors: tensors).write(to: url)
        #expect { try Checkpoint.load(url) } throws: { "\($0)".contains("shares its values with 'tok_emb.weight'") }
    }
}
