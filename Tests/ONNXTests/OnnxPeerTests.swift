import Compression
import Compute
import Datasets
import Foundation
import NeuralNet
@testable import ONNX
import ONNXExport
import TestSupport
import Testing
import Training

/// Real peers: PyTorch models exported with torch.onnx.export (TorchScript and torch.export paths) loaded by us,
/// and our exports run by onnxruntime.
@Suite struct OnnxPeerTests {
    struct TorchCase: Decodable {
        var name: String, path: String, ops: [String]
    }

    @Test func torchExportsGiveOnnxRuntimesLogits() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-torch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = try String(contentsOfFile: TestSupport.peerScript("onnx_torch_models.py"), encoding: .utf8)
        guard let made = try TestSupport.python("OUT = \"\(dir.path)\"\n" + script, needs: ["torch", "onnx", "onnxruntime", "onnxscript"]) else { return }
        try #require(made.status == 0, "\(made.stderr)")
        let cases = try JSONDecoder().decode([TorchCase].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        #expect(cases.count == 6)
        let pixels = try OnnxOperatorTests.floats(dir.appendingPathComponent("input.bin"))
        for c in cases {
            let model = try OnnxModel.load(dir.appendingPathComponent(c.path))
            #expect(model.classes == 10 && model.inputSize == 784, "\(c.name)")
            let logits = try model.logits(Tensor(shape: [4, 1, 28, 28], scalars: pixels))
            let expected = try OnnxOperatorTests.floats(dir.appendingPathComponent(c.name + ".expected.bin"))
            let worst = zip(logits.scalars, expected).map { abs($0 - $1) }.max() ?? .infinity
            #expect(logits.scalars.count == expected.count && worst <= 1e-4, "\(c.name): max abs difference \(worst)")
        }
        #expect(cases.contains { $0.ops.contains("BatchNormalization") && $0.ops.contains("Shape") && $0.ops.contains("Gather") })
        #expect(try OnnxModel.load(dir.appendingPathComponent("cnn_fixed_batch.onnx")).runner.fixedBatch == 2)
    }

    /// Runs each (model, input, shape) in onnxruntime and returns the first output's values.
    /// `fuseQuantized: false` runs a QDQ graph as written (dequantize, float operator, quantize) instead of fused
    /// integer kernels.
    static func onnxRuntime(_ jobs: [(model: URL, input: [Float], shape: [Int])], in dir: URL, fuseQuantized: Bool = true) throws -> [[Float]]? {
        var lines: [String] = []
        for (i, job) in jobs.enumerated() {
            let input = dir.appendingPathComponent("ort-input-\(i).bin")
            try job.input.withUnsafeBytes { try Data($0).write(to: input) }
            lines.append("run(\"\(job.model.path)\", \"\(input.path)\", \(job.shape), \"\(dir.path)/ort-output-\(i).bin\")")
        }
        let script = """
        import numpy as np, onnxruntime as ort
        def run(model, path, shape, out):
            options = ort.SessionOptions()
            if not \(fuseQuantized ? "True" : "False"): options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            x = np.fromfile(path, dtype=np.float32).reshape(shape)
            session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float32).tofile(out)
        \(lines.joined(separator: "\n"))
        """
        guard let result = try TestSupport.python(script, needs: ["onnxruntime", "numpy"]) else { return nil }
        try #require(result.status == 0, "\(result.stderr)")
        return try jobs.indices.map { try OnnxOperatorTests.floats(dir.appendingPathComponent("ort-output-\($0).bin")) }
    }

    static func randomizeBatchNorm(_ model: Network) {
        var rng = SeededRandom(seed: 5, stream: 1)
        for case let norm as BatchNorm in model.namedModules.map(\.layer) {
            for i in 0..<norm.features {
                norm.runningMean.value.scalars[i] = rng.nextFloat() - 0.5
                norm.runningVariance.value.scalars[i] = 0.5 + rng.nextFloat()
                norm.gamma.value.scalars[i] = 0.5 + rng.nextFloat()
                norm.beta.value.scalars[i] = 0.2 * (rng.nextFloat() - 0.5)
            }
        }
    }

    @Test func floatExportsRunInOnnxRuntimeWithOurOutputs() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cnn = try Network(ModelSpec("cnn:1x12x12:c4bn-p-c6k5p1s2-d0.2-f10bn-3"), seed: 3)
        Self.randomizeBatchNorm(cnn)
        let mlp = try Network(ModelSpec("mlp:20-16-4"), seed: 4)
        // The families with skips: adds, projection shortcuts, depthwise (grouped) Conv, ReLU6 as Clip, global pooling.
        let resnet = try Network(ModelSpec("resnet:1x12x12:depth=8,width=4,classes=3"), seed: 5)
        let mobile = try Network(ModelSpec("mobilenetv2:1x12x12:width=4,expansion=3,blocks=2,classes=3"), seed: 6)
        Self.randomizeBatchNorm(resnet)
        Self.randomizeBatchNorm(mobile)
        let normalization = Normalization(mean: [0.3], std: [0.4])
        var jobs: [(model: URL, input: [Float], shape: [Int])] = []
        var ours: [[Float]] = []
        var rng = SeededRandom(seed: 9, stream: 2)
        let networks = [("cnn", cnn), ("mlp", mlp), ("resnet", resnet), ("mobilenetv2", mobile)]
        for (name, network) in networks {
            let url = dir.appendingPathComponent(name + ".onnx")
            try OnnxEncoder.write(try OnnxExport.float(network, normalization: normalization, opset: 13), to: url)
            let shape = [5] + network.inputShape
            let pixels = (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() }
            var normalized = Tensor(shape: shape, scalars: pixels)
            normalization.apply(to: &normalized)
            ours.append(network.forward(normalized, training: false).scalars)
            jobs.append((url, pixels, shape))
            // Our own importer reads the export back to the same logits.
            let back = try OnnxModel.load(url).logits(Tensor(shape: shape, scalars: pixels))
            #expect(zip(back.scalars, ours.last!).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(name) re-imported")
        }
        guard let theirs = try Self.onnxRuntime(jobs, in: dir) else { return }
        #expect(theirs.count == networks.count)
        for (name, (a, b)) in zip(networks.map(\.0), zip(ours, theirs)) {
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
            #expect(a.count == b.count && worst <= 1e-4, "\(name): max abs difference \(worst)")
        }
    }

    /// A GPT (tied and not) in onnxruntime from int64 token ids: Gather, LayerNormalization, GELU, the attention's
    /// reshapes, masked softmax and batched MatMuls give our logits at every position.
    @Test func gptExportsRunInOnnxRuntimeWithOurOutputs() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-gpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        var ours: [[Float]] = []
        var lines: [String] = []
        // The third: a GPT that structured pruning left with fewer heads (and MLP units) than its width implies.
        for (index, spec) in ["gpt:vocab=29,ctx=10,layers=2,heads=2,d=16", "gpt:vocab=29,ctx=10,layers=1,heads=4,d=16,tied=0",
                              "gpt:vocab=29,ctx=10,layers=1,heads=4,d=16"].enumerated() {
            let built = try Network(ModelSpec(spec), seed: UInt64(index + 3))
            let network = index == 2 ? try StructuredPruning.prune(built, sparsity: 0.5) : built
            let url = dir.appendingPathComponent("gpt-\(index).onnx")
            try OnnxEncoder.write(try OnnxExport.float(network, normalization: nil, opset: 17), to: url)
            var rng = SeededRandom(seed: UInt64(index + 11))
            let ids = (0..<30).map { _ in Int32(rng.nextInt(below: 29)) }
            ours.append(network.forward(Tensor(shape: [3, 10], indices: ids), training: false).scalars)
            lines.append("run(\"\(url.path)\", \(ids), \"\(dir.path)/gpt-out-\(index).bin\")")
        }
        #expect(throws: OnnxError.self) { try OnnxExport.float(try Network(ModelSpec("gpt:vocab=29,ctx=10,layers=1,heads=2,d=16"), seed: 1), normalization: nil, opset: 13) }
        let script = """
        import numpy as np, onnxruntime as ort
        def run(model, ids, out):
            session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            x = np.array(ids, dtype=np.int64).reshape(3, 10)
            session.run(None, {"input": x})[0].astype(np.float32).tofile(out)
        \(lines.joined(separator: "\n"))
        """
        guard let result = try TestSupport.python(script, needs: ["onnxruntime", "numpy"]) else { return }
        try #require(result.status == 0, "\(result.stderr)")
        for (index, logits) in ours.enumerated() {
            let theirs = try OnnxOperatorTests.floats(dir.appendingPathComponent("gpt-out-\(index).bin"))
            let worst = zip(logits, theirs).map { abs($0 - $1) }.max() ?? .infinity
            #expect(logits.count == theirs.count && worst <= 1e-4, "gpt \(index): max abs difference \(worst)")
        }
    }

    @Test func int8QDQExportsAgreeWithOurInt8RuntimeOnFashionMNIST() throws {
        guard let fashion = try TestSupport.fashionMNIST() else { return }
        let split = try DataSource.idx(prefix: fashion).load()
        let dir = try TestSupport.temporaryDirectory("onnx-qdq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = try Network(ModelSpec("cnn:1x28x28:c8-p-c16-p-f32-10"), seed: 1)
        let normalization = Normalization(mean: [0.286], std: [0.353])
        Trainer(model: network, config: TrainingConfig(epochs: 1, batchSize: 64, learningRate: 0.002, seed: 1), normalization: normalization)
            .fit(split.train.prefix(8000), test: nil)
        let test = split.test
        var normalized = test.images
        normalization.apply(to: &normalized)
        var sample = split.train.prefix(512).images
        normalization.apply(to: &sample)
        var jobs: [(model: URL, input: [Float], shape: [Int])] = []
        var ours: [[Int]] = []
        for perChannel in [true, false] {
            let quantized = try QuantizedModel.postTraining(network, sample: sample, perChannel: perChannel, calibration: .mse)
            let url = dir.appendingPathComponent(perChannel ? "per-channel.onnx" : "per-tensor.onnx")
            let exported = try OnnxExport.qdq(quantized, normalization: normalization)
            if perChannel {
                let axes = exported.graph.nodes.filter { $0.opType == "DequantizeLinear" && $0.name.hasSuffix(".weight") }.map { $0.attributes["axis"] }
                #expect(axes.count == 4 && axes.allSatisfy { $0 == .int(0) })
            }
            try OnnxEncoder.write(exported, to: url)
            ours.append(Self.argmax(try Int8Network(quantized).forward(normalized).scalars, classes: 10))
            jobs.append((url, test.images.scalars, [test.count, 1, 28, 28]))
        }
        // Without VNNI onnxruntime's fused u8 x s8 kernels saturate an int16 intermediate (its documented caveat for
        // AVX2 and AVX-512 before VNNI), so there it runs the QDQ graph unfused: the same arithmetic in float.
        guard let theirs = try Self.onnxRuntime(jobs, in: dir, fuseQuantized: Int8GEMM.hasDotProductInstructions) else { return }
        for (name, (a, b)) in zip(["per-channel", "per-tensor"], zip(ours, theirs.map { Self.argmax($0, classes: 10) })) {
            let agreement = Double(zip(a, b).filter { $0 == $1 }.count) / Double(test.count)
            let accuracy = { (predicted: [Int]) in Double(zip(predicted, test.labels).filter { $0 == Int($1) }.count) / Double(test.count) }
            #expect(a.count == b.count && agreement >= 0.995, "\(name): onnxruntime agrees on \(agreement) of the test set")
            #expect(accuracy(a) > 0.7 && abs(accuracy(a) - accuracy(b)) < 0.003, "\(name): ours \(accuracy(a)), onnxruntime \(accuracy(b))")
        }
    }

    /// Int8 QDQ exports of trees (adds and depthwise convs between quantized layers, a GPT's attention and MLP
    /// Linears) compute in onnxruntime what our int8 tree runtime computes: both are quantize-dequantize at each
    /// Conv/Gemm input and at each quantization point (conv outputs, residual adds), where ours keeps bytes.
    @Test func int8QDQExportsOfTreesRunInOnnxRuntimeAsOurInt8Runtime() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-qdq-tree")
        defer { try? FileManager.default.removeItem(at: dir) }
        let normalization = Normalization(mean: [0.3], std: [0.4])
        var rng = SeededRandom(seed: 21)
        var ours: [[Float]] = [], lines: [String] = []
        for (index, spec) in ["resnet:1x12x12:depth=8,width=4,classes=3", "mobilenetv2:1x12x12:width=4,expansion=3,blocks=2,classes=3",
                              "gpt:vocab=29,ctx=10,layers=2,heads=2,d=16"].enumerated() {
            let network = try Network(ModelSpec(spec), seed: UInt64(index + 1))
            Self.randomizeBatchNorm(network)
            let language = network.spec.isLanguageModel
            let shape = [6] + network.inputShape
            let count = shape.reduce(1, *)
            let raw: [Float] = language ? (0..<count).map { _ in Float(rng.nextInt(below: 29)) } : (0..<count).map { _ in rng.nextFloat() }
            func prepared(_ values: [Float]) -> Tensor {
                if language { return Tensor(shape: shape, indices: values.map { Int32($0) }) }
                var x = Tensor(shape: shape, scalars: values)
                normalization.apply(to: &x)
                return x
            }
            let sample = prepared(language ? (0..<count).map { _ in Float(rng.nextInt(below: 29)) } : (0..<count).map { _ in rng.nextFloat() })
            let quantized = try QuantizedModel.postTraining(network, sample: sample, perChannel: true, calibration: .mse)
            let exported = try OnnxExport.qdq(quantized, normalization: language ? nil : normalization)
            let quantizeNodes = exported.graph.nodes.filter { $0.opType == "QuantizeLinear" }.count
            #expect(language == quantized.points.isEmpty && quantizeNodes == quantized.layers.count + quantized.points.count,
                    "\(spec): \(quantizeNodes) QuantizeLinear for \(quantized.layers.count) int8 layers and \(quantized.points.count) points")
            let url = dir.appendingPathComponent("tree-\(index).onnx")
            try OnnxEncoder.write(exported, to: url)
            ours.append(try quantized.runtime()(prepared(raw)).scalars)
            let input = dir.appendingPathComponent("tree-in-\(index).bin")
            try raw.withUnsafeBytes { try Data($0).write(to: input) }
            lines.append("run(\"\(url.path)\", \"\(input.path)\", \(shape), \(language ? "np.int64" : "np.float32"), \"\(dir.path)/tree-out-\(index).bin\")")
        }
        let script = """
        import numpy as np, onnxruntime as ort
        def run(model, path, shape, dtype, out):
            options = ort.SessionOptions()
            if not \(Int8GEMM.hasDotProductInstructions ? "True" : "False"): options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            x = np.fromfile(path, dtype=np.float32).astype(dtype).reshape(shape)
            session.run(None, {"input": x})[0].astype(np.float32).tofile(out)
        \(lines.joined(separator: "\n"))
        """
        guard let result = try TestSupport.python(script, needs: ["onnxruntime", "numpy"]) else { return }
        try #require(result.status == 0, "\(result.stderr)")
        for (index, logits) in ours.enumerated() {
            let theirs = try OnnxOperatorTests.floats(dir.appendingPathComponent("tree-out-\(index).bin"))
            let range = logits.map(abs).max() ?? 0
            let differences = zip(logits, theirs).map { abs($0 - $1) }
            let mean = differences.reduce(0, +) / Float(max(differences.count, 1))
            #expect(logits.count == theirs.count && mean <= 0.002 * range, "tree \(index): mean difference \(mean) of \(range)")
            let classes = index == 2 ? 29 : 3
            let agreement = zip(Self.argmax(logits, classes: classes), Self.argmax(theirs, classes: classes)).filter { $0 == $1 }.count
            #expect(Double(agreement) >= 0.9 * Double(logits.count / classes), "tree \(index): \(agreement) of \(logits.count / classes) rows agree")
        }
    }

    static func argmax(_ scores: [Float], classes: Int) -> [Int] {
        stride(from: 0, to: scores.count, by: classes).map { row in (0..<classes).max { scores[row + $0] < scores[row + $1] }! }
    }
}
