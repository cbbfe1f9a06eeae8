import Compute
import Foundation
import NeuralNet
import Testing
import TestSupport
@testable import Compression

/// BatchNorm folding inside residual and inverted-residual blocks: the folded tree computes what the network
/// computes in evaluation, keeps every other name, and loads back from its checkpoint (the tree is stored).
@Suite struct TreeFoldingTests {
    @Test(arguments: ["resnet:2x10x10:depth=8,width=4,classes=3", "mobilenetv2:2x10x10:width=4,expansion=2,blocks=2,classes=3"])
    func foldedBlocksComputeWhatTheNetworkComputes(spec: String) throws {
        let model = try Network(ModelSpec(spec), seed: 2)
        var rng = SeededRandom(seed: 4)
        for case let norm as BatchNorm in model.namedModules.map(\.layer) {
            norm.gamma.value.scalars = norm.gamma.value.scalars.map { _ in 0.5 + rng.nextFloat() }
            norm.beta.value.scalars = norm.beta.value.scalars.map { _ in rng.nextFloat() - 0.5 }
        }
        let x = Tensor(shape: [4, 2, 10, 10], scalars: (0..<800).map { _ in rng.nextFloat() * 2 - 1 })
        _ = model.forward(x, training: true)  // running statistics of this data
        let folded = try BatchNormFolding.fold(model)
        let norms = model.namedModules.filter { $0.layer is BatchNorm }.count
        #expect(norms > 0 && !folded.namedModules.contains { $0.layer is BatchNorm }, "every BatchNorm follows a Conv2d")
        let before = Set(model.namedParameters.map(\.name)), after = Set(folded.namedParameters.map(\.name))
        #expect(after.isSubset(of: before) && after.count == before.count - 4 * norms)
        let expected = model.forward(x, training: false), got = folded.forward(x, training: false)
        let scale = expected.scalars.map(abs).max() ?? 1
        #expect(zip(expected.scalars, got.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "\(spec)")

        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("folded.safetensors")
        try Checkpoint.save(folded, to: url)
        let (loaded, _) = try Checkpoint.load(url)
        #expect(loaded.architecture == folded.architecture && loaded.forward(x, training: false) == got)
        // Quantization folds the same way and quantizes every Conv2d and Linear of the folded tree.
        let quantized = try QuantizedModel.postTraining(model, sample: x, perChannel: true, calibration: .minmax)
        #expect(quantized.layers.map(\.path) == folded.namedModules.filter { gemmParameters($0.layer) != nil }.map(\.path))
        #expect(quantized.float.architecture == folded.architecture)
    }
}

/// Structured pruning across adds: the channels of a residual stream go together, the smaller tree runs, and every
/// weight it keeps is the original's at the kept rows and columns.
@Suite struct TreeStructuredPruningTests {
    /// A GPT loses MLP hidden units and attention heads (its residual stream stays whole); the smaller network
    /// computes what the original does with those units' fc rows, biases and proj columns, and the dropped heads'
    /// output projection columns, zeroed.
    @Test func aGPTLosesMLPUnitsAndComputesAsTheOriginalWithThemZeroed() throws {
        let model = try Network(ModelSpec("gpt:vocab=19,ctx=6,layers=2,heads=2,d=8"), seed: 4)
        let smaller = try StructuredPruning.prune(model, sparsity: 0.5)
        let shapes = Dictionary(uniqueKeysWithValues: smaller.namedParameters.map { ($0.name, $0.parameter.value.shape) })
        #expect(shapes["layers.0.mlp.fc.weight"] == [16, 8] && shapes["layers.1.mlp.proj.weight"] == [8, 16], "\(shapes)")
        #expect(shapes["layers.0.attn.qkv.weight"] == [12, 8] && shapes["layers.0.attn.proj.weight"] == [8, 4] && shapes["tok_emb.weight"] == [19, 8])
        // The rebuilt tree says so, and stores it: one head of the original width 4.
        #expect(smaller.namedModules.first { $0.path == "layers.1.attn" }?.layer.summary == "CausalSelfAttention(8, heads=1 of 4)")
        #expect(try ModuleDescription(json: smaller.architecture.json) == smaller.architecture)
        // Zero, in the original, every unit the smaller one dropped (an fc row absent from the smaller fc).
        let modules = Dictionary(uniqueKeysWithValues: model.namedModules.map { ($0.path, $0.layer) })
        let kept = Dictionary(uniqueKeysWithValues: smaller.namedModules.map { ($0.path, $0.layer) })
        for layer in 0..<2 {
            let fc = modules["layers.\(layer).mlp.fc"] as! Linear, proj = modules["layers.\(layer).mlp.proj"] as! Linear
            let keptRows = (kept["layers.\(layer).mlp.fc"] as! Linear).weight.value.scalars
            for unit in 0..<32 {
                let row = Array(fc.weight.value.scalars[(unit * 8)..<((unit + 1) * 8)])
                let survives = stride(from: 0, to: keptRows.count, by: 8).contains { Array(keptRows[$0..<($0 + 8)]) == row }
                guard !survives else { continue }
                for i in 0..<8 { fc.weight.value.scalars[unit * 8 + i] = 0; proj.weight.value.scalars[i * 32 + unit] = 0 }
                fc.bias.value.scalars[unit] = 0
            }
            let attention = modules["layers.\(layer).attn"] as! CausalSelfAttention
            let keptQuery = Array((kept["layers.\(layer).attn"] as! CausalSelfAttention).qkv.weight.value.scalars[0..<32])
            for head in 0..<2 where Array(attention.qkv.weight.value.scalars[(head * 32)..<((head + 1) * 32)]) != keptQuery {
                for row in 0..<8 { for i in 0..<4 { attention.proj.weight.value.scalars[row * 8 + head * 4 + i] = 0 } }
            }
        }
        var rng = SeededRandom(seed: 2)
        let x = Tensor(shape: [3, 6], indices: (0..<18).map { _ in Int32(rng.nextInt(below: 19)) })
        let expected = model.forward(x, training: false), got = smaller.forward(x, training: false)
        let scale = expected.scalars.map(abs).max()!
        #expect(zip(expected.scalars, got.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
    }

    @Test(arguments: ["resnet:2x10x10:depth=8,width=8,classes=3", "mobilenetv2:2x10x10:width=8,expansion=2,blocks=2,classes=3"])
    func tiedChannelsArePrunedTogetherAndTheSmallerTreeRuns(spec: String) throws {
        let model = try Network(ModelSpec(spec), seed: 3)
        let smaller = try StructuredPruning.prune(model, sparsity: 0.5)
        #expect(smaller.parameterCount < model.parameterCount * 4 / 10, "\(smaller.parameterCount) of \(model.parameterCount)")
        var rng = SeededRandom(seed: 1)
        let x = Tensor(shape: [2, 2, 10, 10], scalars: (0..<400).map { _ in rng.nextFloat() })
        #expect(smaller.forward(x, training: false).shape == [2, 3])
        let shapes = Dictionary(uniqueKeysWithValues: smaller.namedParameters.map { ($0.name, $0.parameter.value.shape) })
        if spec.hasPrefix("resnet") {
            // Stage 1's stream: the stem and each block's second conv write it, so they keep the same 4 channels;
            // a block's inner width is pruned on its own.
            #expect(shapes["conv1.weight"] == [4, 2, 3, 3] && shapes["layer1.0.conv2.weight"] == [4, 4, 3, 3])
            #expect(shapes["layer2.0.shortcut.0.weight"] == [8, 4, 1, 1] && shapes["layer2.0.conv2.weight"] == [8, 8, 3, 3])
            #expect(shapes["fc.weight"] == [3, 16])
        } else {
            // The depthwise conv keeps one filter per kept channel of the expansion.
            #expect(shapes["blocks.1.depthwise.0.weight"]?[1] == 1 && shapes["blocks.1.depthwise.0.weight"]?[0] == shapes["blocks.1.expand.0.weight"]?[0])
            #expect(shapes["classifier.weight"] == [3, 16])
        }
        // Every kept weight row is one of the original's rows, unchanged (its columns a subset of the original's).
        let original = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value) })
        for (name, parameter) in smaller.namedParameters where name.hasSuffix("running_var") {
            let source = original[name]!.scalars
            #expect(parameter.value.scalars.allSatisfy { source.contains($0) }, "\(name)")
        }
    }
}
