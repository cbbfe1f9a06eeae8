import Compute
import Datasets
import Foundation
import NeuralNet
import SafeTensors
import Testing
import TestSupport
import Training
@testable import Compression

/// Post-training quantization and the int8 runtime on trees: residual blocks, depthwise convolutions, a GPT's
/// Linears (attention's projections included).
@Suite struct TreeQuantizationTests {
    static let cnnSpecs = ["resnet:2x10x10:depth=8,width=4,classes=5", "mobilenetv2:2x10x10:width=4,expansion=3,blocks=2,classes=5"]
    static let gptSpec = "gpt:vocab=23,ctx=8,layers=2,heads=2,d=16"

    /// A network whose BatchNorms do something, so folding them matters.
    static func network(_ spec: String, seed: UInt64) throws -> Network {
        let model = try Network(ModelSpec(spec), seed: seed)
        var rng = SeededRandom(seed: seed, stream: 7)
        for case let norm as BatchNorm in model.namedModules.map(\.layer) {
            for c in 0..<norm.features {
                norm.gamma.value.scalars[c] = 0.5 + rng.nextFloat()
                norm.beta.value.scalars[c] = 0.4 * (rng.nextFloat() - 0.5)
                norm.runningMean.value.scalars[c] = 0.4 * (rng.nextFloat() - 0.5)
                norm.runningVariance.value.scalars[c] = 0.3 + rng.nextFloat()
            }
        }
        return model
    }

    static func input(for model: Network, batch: Int, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        if model.spec.isLanguageModel {
            let vocabulary = model.outputShape.last!
            return Tensor(shape: [batch] + model.inputShape, indices: (0..<(batch * model.inputShape.reduce(1, *))).map { _ in Int32(rng.nextInt(below: vocabulary)) })
        }
        let shape = [batch] + model.inputShape
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextGaussian() })
    }

    /// What the integers should compute: the dequantized network in float, every quantized layer's input snapped to
    /// its uint8 grid and every quantization point's value to its grid (the QDQ graph's meaning), walked here
    /// container by container.
    static func simulated(_ quantized: QuantizedModel, _ x: Tensor) throws -> Tensor {
        let copy = try Int8TreeNetwork(quantized).network  // the dequantized weights, its own layers
        let modules = Dictionary(uniqueKeysWithValues: copy.namedModules.map { ($0.path, $0.layer) })
        for layer in quantized.layers { (modules[layer.path] as! Overridable).layerOverride = Snap(layer.input, output: quantized.points[layer.path]) }
        func snap(_ t: Tensor, _ grid: ActivationQuantization?) -> Tensor {
            guard let grid else { return t }
            return Tensor(shape: t.shape, scalars: t.scalars.map { grid.dequantize(grid.quantize($0)) })
        }
        func run(_ layer: Layer, _ path: String, _ x: Tensor) -> Tensor {
            let prefix = path.isEmpty ? "" : "\(path)."
            if let graph = layer as? Graph {
                var values = [Graph.input: x]
                for node in graph.nodes {
                    switch node {
                    case let .call(child, input, output):
                        values[output] = run(graph.children.first { $0.name == child }!.layer, prefix + child, values[input]!)
                    case let .add(inputs, output):
                        let sum = inputs.dropFirst().reduce(values[inputs[0]]!) { a, b in Tensor(shape: a.shape, scalars: zip(a.scalars, values[b]!.scalars).map(+)) }
                        values[output] = snap(sum, quantized.points[prefix + output])
                    }
                }
                return values[graph.nodes.last!.output]!
            }
            if let sequential = layer as? Sequential {
                return sequential.children.reduce(x) { value, child in run(child.layer, prefix + child.name, value) }
            }
            return layer.forward(x, training: false)
        }
        return run(copy.root, "", x)
    }

    final class Snap: LayerOverride {
        let grid: ActivationQuantization, output: ActivationQuantization?
        init(_ grid: ActivationQuantization, output: ActivationQuantization?) { self.grid = grid; self.output = output }
        func forward(_ x: Tensor, training: Bool, own float: (Tensor) -> Tensor) -> Tensor {
            var snapped = x
            snapped.scalars = x.scalars.map { grid.dequantize(grid.quantize($0)) }
            var y = float(snapped)
            if let output { y.scalars = y.scalars.map { output.dequantize(output.quantize($0)) } }
            return y
        }
    }

    static func argmax(_ t: Tensor) -> [Int] {
        let width = t.shape.last!
        return stride(from: 0, to: t.count, by: width).map { row in (0..<width).max { t.scalars[row + $0] < t.scalars[row + $1] }! }
    }

    @Test(arguments: cnnSpecs + [gptSpec])
    func int8TreeRuntimeMatchesSimulatedQuantization(spec: String) throws {
        let model = try Self.network(spec, seed: 3)
        let quantized = try QuantizedModel.postTraining(model, sample: Self.input(for: model, batch: 48, seed: 4), perChannel: true, calibration: .minmax)
        // Every Conv2d and Linear of the tree is quantized, attention's projections too.
        let gemms = model.namedModules.filter { gemmParameters($0.layer) != nil }.map(\.path)
        #expect(quantized.layers.map(\.path) == gemms)
        if spec.hasPrefix("gpt") { #expect(gemms.contains("layers.0.attn.qkv") && gemms.contains("layers.1.mlp.fc")) }
        if spec.hasPrefix("resnet") {
            // Activations stay bytes from conv to conv and through the adds; a conv reads its producer's grid, and
            // the grid of a value only a ReLU reads starts at zero (the clamp is the ReLU).
            #expect(quantized.points["conv1"]?.zero == 0 && quantized.points["layer1.0.sum"]?.zero == 0)
            #expect(quantized.points["layer1.0.conv2"]?.zero == 128, "the conv before an add keeps its sign")
            let inputs = Dictionary(uniqueKeysWithValues: quantized.layers.map { ($0.path, $0.input) })
            #expect(inputs["layer1.0.conv1"] == quantized.points["conv1"] && inputs["layer2.0.conv1"] == quantized.points["layer1.0.sum"])
        } else if spec.hasPrefix("gpt") {
            #expect(quantized.points.isEmpty, "a GPT's Linears read floats")
        } else {
            #expect(quantized.points.keys.contains("blocks.1.out") && quantized.points.keys.contains("blocks.1.depthwise.0"))
        }
        let x = Self.input(for: model, batch: 9, seed: 5)
        let runtime = try Int8TreeNetwork(quantized)
        let integer = runtime.forward(x)
        let expected = try Self.simulated(quantized, x)
        let range = expected.scalars.map(abs).max()!
        let differences = zip(integer.scalars, expected.scalars).map { abs($0 - $1) }
        #expect(integer.shape == expected.shape)
        #expect(differences.max()! < 0.01 * range, "\(spec): max \(differences.max()!) of \(range)")
        // And close to the float network it came from: the rows' top scores mostly agree.
        let reference = Self.argmax(model.forward(x, training: false)), ours = Self.argmax(integer)
        let agree = zip(reference, ours).filter { $0 == $1 }.count
        #expect(Double(agree) >= 0.75 * Double(ours.count), "\(spec): \(agree) of \(ours.count) agree")
        // oneDNN's int8 convolutions (grouped and depthwise too) and the im2row + GEMM path compute alike.
        if !spec.hasPrefix("gpt") {
            runtime.useConvolutionPrimitives = false
            let gemmPath = runtime.forward(x)
            let worst = zip(gemmPath.scalars, integer.scalars).map { abs($0 - $1) }.max()!
            // Activations are bytes between points: a rounding tie decided apart moves a value by one step.
            #expect(worst <= 0.01 * range, "\(spec): primitive and GEMM paths differ by \(worst) of \(range)")
        }
    }

    @Test func quantizedTreesRoundTripThroughTheirFiles() throws {
        let directory = try TestSupport.temporaryDirectory("tree-int8")
        defer { try? FileManager.default.removeItem(at: directory) }
        for spec in Self.cnnSpecs + [Self.gptSpec] {
            let model = try Self.network(spec, seed: 6)
            let quantized = try QuantizedModel.postTraining(model, sample: Self.input(for: model, batch: 32, seed: 7), perChannel: spec.hasPrefix("resnet"), calibration: .mse)
            let url = directory.appendingPathComponent("q.safetensors")
            try CompressedCheckpoint.save(quantized, sparse: false, metadata: [:], to: url)
            let names = Set(try SafeTensorsFile.read(url).tensors.map(\.name))
            let first = quantized.layers[1].path
            #expect(names.contains("\(first).weight.q") && names.contains("\(first).input_quant") && !names.contains("\(first).weight"))
            let back = try CompressedCheckpoint.load(url)
            let x = Self.input(for: model, batch: 4, seed: 8)
            #expect(try back.inference()(x) == quantized.runtime()(x), "\(spec)")
            #expect(back.quantized?.points == quantized.points)
        }
    }

    /// A tree file quantized before quantization points existed (no `output_quant` tensors) still loads and runs
    /// as it was written to: float between its integer layers. A point naming nothing of the model is refused.
    @Test func treeFilesWithoutPointsStillRunAndStrayPointsAreRefused() throws {
        let directory = try TestSupport.temporaryDirectory("tree-int8-points")
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try Self.network(Self.cnnSpecs[0], seed: 13)
        let quantized = try QuantizedModel.postTraining(model, sample: Self.input(for: model, batch: 32, seed: 14), perChannel: true, calibration: .minmax)
        let url = directory.appendingPathComponent("q.safetensors")
        try CompressedCheckpoint.save(quantized, sparse: false, metadata: [:], to: url)
        let file = try SafeTensorsFile.read(url)
        let older = directory.appendingPathComponent("older.safetensors")
        try SafeTensorsFile(metadata: file.metadata, tensors: file.tensors.filter { !$0.name.hasSuffix(".output_quant") }).write(to: older)
        let back = try CompressedCheckpoint.load(older)
        var withoutPoints = quantized
        withoutPoints.points = [:]
        let x = Self.input(for: model, batch: 5, seed: 15)
        let ours = try back.inference()(x), expected = try Self.simulated(withoutPoints, x)
        let range = expected.scalars.map(abs).max()!
        #expect(back.quantized?.points.isEmpty == true)
        #expect(zip(ours.scalars, expected.scalars).allSatisfy { abs($0 - $1) < 0.01 * range })

        let stray = directory.appendingPathComponent("stray.safetensors")
        try SafeTensorsFile(metadata: file.metadata, tensors: file.tensors + [TensorEntry(name: "layer1.0.relu1.output_quant", shape: [2], floats: [0.1, 0])]).write(to: stray)
        #expect { _ = try CompressedCheckpoint.load(stray) } throws: { "\($0)".contains("layer1.0.relu1.output_quant") && "\($0)".contains("neither a Conv2d nor a residual add") }
    }

    /// Quantization-aware training inside blocks: fine-tuning through fake quantization lowers the simulated int8
    /// network's loss on what it trains on, leaves nothing installed in the result, and the tree runtime computes
    /// what the simulation says for the trained weights.
    @Test func aTreeTrainsQuantizationAware() throws {
        let model = try Self.network(Self.cnnSpecs[1], seed: 9)
        let images = Self.input(for: model, batch: 256, seed: 10)
        // A rule the network can learn: which of the two channels sums higher, and whether channel 0 is positive.
        let plane = 100
        let labels = (0..<256).map { b -> Int32 in
            let sums = (0..<2).map { c in images.scalars[((b * 2 + c) * plane)..<((b * 2 + c + 1) * plane)].reduce(0, +) }
            return Int32((sums[0] > sums[1] ? 1 : 0) + (sums[0] > 0 ? 2 : 0))
        }
        let ptq = try QuantizedModel.postTraining(model, sample: images, perChannel: true, calibration: .minmax)
        let tuner = FineTuner(train: LabeledImages(images: images, labels: labels), test: nil,
                              config: TrainingConfig(epochs: 6, batchSize: 32, learningRate: 0.01, seed: 1), normalization: nil, teachers: nil)
        let qat = try QuantizationAwareTraining.run(model, sample: images, perChannel: true, calibration: .minmax, tuner: tuner, epochs: 6)
        func loss(_ q: QuantizedModel) throws -> Float {
            let logits = try Self.simulated(q, images)
            var total: Float = 0
            for (row, label) in labels.enumerated() {
                let z = Array(logits.scalars[(row * 5)..<(row * 5 + 5)]), top = z.max()!
                total += log(z.map { exp($0 - top) }.reduce(0, +)) + top - z[Int(label)]
            }
            return total / Float(labels.count)
        }
        let before = try loss(ptq), after = try loss(qat)
        #expect(after < 0.9 * before, "simulated int8 loss \(before) -> \(after)")
        #expect(qat.layers.map(\.path) == ptq.layers.map(\.path) && qat.layers[3].weights != ptq.layers[3].weights)
        #expect(qat.float.namedModules.allSatisfy { (($0.layer as? Overridable)?.layerOverride) == nil })
        let x = Self.input(for: model, batch: 6, seed: 12)
        let integer = try qat.runtime()(x), expected = try Self.simulated(qat, x)
        let range = expected.scalars.map(abs).max()!
        #expect(zip(integer.scalars, expected.scalars).allSatisfy { abs($0 - $1) < 0.01 * range })
    }
}
