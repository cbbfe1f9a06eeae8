import Compute
import Foundation
import SafeTensors
import Testing
import TestSupport
@testable import NeuralNet

/// The module tree and its graphs: names, wiring rules, gradients through skips, the stored form.
@Suite struct GraphTests {
    @Test func namesFollowPyTorchModels() throws {
        let resnet = try Network(ModelSpec("resnet:1x28x28:depth=20,width=16"), seed: 0)
        let names = Set(resnet.namedParameters.map(\.name))
        for name in ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.2.bn2.bias", "layer2.0.shortcut.0.weight",
                     "layer2.0.shortcut.1.weight", "layer3.2.conv2.weight", "fc.weight", "fc.bias"] {
            #expect(names.contains(name), "\(name) missing from \(names.sorted().prefix(8))")
        }
        #expect(!names.contains("layer1.0.shortcut.0.weight"), "an identity shortcut has no weights")
        #expect(resnet.forward(Tensor(zeros: [2, 1, 28, 28]), training: false).shape == [2, 10])
        let mobile = try Network(ModelSpec("mobilenetv2:1x28x28:width=8,expansion=4,blocks=2"), seed: 0)
        let shapes = Dictionary(uniqueKeysWithValues: mobile.namedParameters.map { ($0.name, $0.parameter.value.shape) })
        #expect(shapes["blocks.0.expand.0.weight"] == nil, "the first block has expansion 1")
        #expect(shapes["blocks.1.expand.0.weight"] == [32, 8, 1, 1])
        #expect(shapes["blocks.1.depthwise.0.weight"] == [32, 1, 3, 3])
        #expect(shapes["blocks.2.project.0.weight"] == [16, 32, 1, 1] && shapes["classifier.weight"] == [10, 32])
        // A chain keeps nn.Sequential's numbers, so format 1 files keep their names.
        #expect(try Network(ModelSpec("mlp:4-3-2"), seed: 0).namedParameters.map(\.name) == ["1.weight", "1.bias", "3.weight", "3.bias"])
    }

    /// The graph's own arithmetic (a value read twice, adds of two and three values), with smooth activations so
    /// finite differences see no kinks. Whole families are checked against PyTorch (FamilyTorchParityTests): through
    /// BatchNorm on tiny batches finite differences are too ill-conditioned to judge them.
    @Test func gradientsThroughSkipsAndAddsMatchFiniteDifferences() throws {
        let block = ModuleDescription.graph([
            .init("conv1", .conv2d(inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, groups: 1)),
            .init("act", .gelu(.tanh)),
            .init("depthwise", .conv2d(inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, groups: 3)),
            .init("act2", .silu), .init("norm", .layerNorm(features: 5)),
        ], nodes: [
            .call("conv1", input: "input", output: "a"), .call("act", input: "a", output: "b"),
            .call("depthwise", input: "b", output: "c"), .add(["c", "input"], output: "d"),
            .call("act2", input: "d", output: "e"), .call("norm", input: "input", output: "f"),
            .add(["e", "f", "b"], output: "out"),
        ], label: "Test block")
        var rng = SeededRandom(seed: 2)
        let layer = try block.build(rng: &rng, seed: 2)
        #expect(try layer.outputShape(for: [3, 5, 5]) == [3, 5, 5])
        let mismatches = GradientCheck.check(layer, input: GradientCheck.randomTensor([2, 3, 5, 5], seed: 4), epsilon: 1e-2)
        #expect(mismatches.isEmpty, "\(mismatches.count) \(mismatches.prefix(4))")
    }

    @Test func groupedAndDepthwiseConvolutionsMatchFiniteDifferencesTheirReferenceAndPyTorch() throws {
        var rng = SeededRandom(seed: 3)
        for (inC, outC, groups, stride) in [(3, 5, 1, 2), (4, 6, 2, 1), (6, 6, 6, 2), (3, 6, 3, 1)] {
            let conv = Conv2d(inC, outC, kernel: 3, stride: stride, padding: 1, groups: groups, rng: &rng)
            #expect(conv.weight.value.shape == [outC, inC / groups, 3, 3])
            let x = GradientCheck.randomTensor([2, inC, 5, 5], seed: 9)
            let mismatches = GradientCheck.check(conv, input: x)
            #expect(mismatches.isEmpty, "groups \(groups): \(mismatches.prefix(3))")
            // Inference (oneDNN's grouped primitive) and training (per-group GEMMs) agree.
            let inference = conv.forward(x, training: false), training = conv.forward(x, training: true)
            #expect(zip(inference.scalars, training.scalars).allSatisfy { abs($0 - $1) <= 1e-5 })
            let upstream = GradientCheck.randomTensor(training.shape, seed: 10)
            let dx = try #require(conv.backward(upstream, needInputGradient: true))
            // oneDNN's training primitives (the default) against the im2col + GEMM reference twin.
            var same = SeededRandom(seed: 0)
            let twin = Conv2d(inC, outC, kernel: 3, stride: stride, padding: 1, groups: groups, rng: &same)
            twin.weight.value = conv.weight.value
            twin.bias.value = conv.bias.value
            twin.usesReferencePath = true
            let reference = twin.forward(x, training: true)
            let referenceDx = try #require(twin.backward(upstream, needInputGradient: true))
            for (name, a, b) in [("output", training.scalars, reference.scalars), ("input gradient", dx.scalars, referenceDx.scalars),
                                 ("weight gradient", conv.weight.grad.scalars, twin.weight.grad.scalars),
                                 ("bias gradient", conv.bias.grad.scalars, twin.bias.grad.scalars)] {
                #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "groups \(groups) \(name): fast and reference paths")
            }
            let script = """
                import torch, json
                x = torch.tensor(\(x.scalars)).reshape(\(x.shape)).requires_grad_()
                w = torch.tensor(\(conv.weight.value.scalars)).reshape(\(conv.weight.value.shape)).requires_grad_()
                b = torch.tensor(\(conv.bias.value.scalars)).requires_grad_()
                y = torch.nn.functional.conv2d(x, w, b, stride=\(stride), padding=1, groups=\(groups))
                y.backward(torch.tensor(\(upstream.scalars)).reshape(y.shape))
                print(json.dumps([y.flatten().tolist(), x.grad.flatten().tolist(), w.grad.flatten().tolist(), b.grad.tolist()]))
                """
            guard let result = try TestSupport.python(script, needs: ["torch"]) else { continue }
            #expect(result.status == 0, "\(result.stderr)")
            let torch = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Double]])
            for (name, ours, theirs) in [("output", training.scalars, torch[0]), ("input gradient", dx.scalars, torch[1]),
                                         ("weight gradient", conv.weight.grad.scalars, torch[2]), ("bias gradient", conv.bias.grad.scalars, torch[3])] {
                #expect(ours.count == theirs.count && zip(ours, theirs).allSatisfy { abs(Double($0) - $1) <= 1e-4 * max(1, abs($1)) },
                        "groups \(groups) \(name)")
            }
        }
    }

    @Test func poolingAndReLU6MatchFiniteDifferences() {
        let x = GradientCheck.randomTensor([2, 3, 6, 6], seed: 12, scale: 8)  // ReLU6 sees both of its bends
        for layer: Layer in [AvgPool2d(kernel: 2), AvgPool2d(kernel: 3), GlobalAvgPool2d(), ReLU6()] {
            let mismatches = GradientCheck.check(layer, input: x, epsilon: 1e-3)
            #expect(mismatches.isEmpty, "\(layer.summary): \(mismatches.prefix(3))")
        }
        #expect((try? AvgPool2d(kernel: 4).outputShape(for: [3, 3, 3])) == nil)
        #expect((try? GlobalAvgPool2d().outputShape(for: [3, 5, 4])) == [3, 1, 1])
    }

    /// Miswired graphs are refused when built, naming the value or child; shapes name the module path and both shapes.
    @Test func wiringAndShapeErrorsNameWhereTheyAre() throws {
        func graph(_ nodes: [GraphNode]) -> ModuleDescription {
            .graph([.init("a", .relu), .init("b", .relu)], nodes: nodes, label: "Test")
        }
        let cases: [(ModuleDescription, String)] = [
            (graph([.call("a", input: "x", output: "y"), .call("b", input: "y", output: "z")]), "reads 'x' before any node produces it"),
            (graph([.call("a", input: "input", output: "y"), .call("b", input: "input", output: "y")]), "'y' is produced twice"),
            (graph([.call("a", input: "input", output: "y")]), "child 'b' is never called"),
            (graph([.call("a", input: "input", output: "y"), .call("b", input: "input", output: "z")]), "'y' is produced but never read"),
            (graph([.call("a", input: "input", output: "y"), .call("a", input: "y", output: "z")]), "calls child 'a' twice"),
        ]
        for (description, message) in cases {
            #expect(throws: (any Error).self) { _ = try description.outputShape(for: [4]) }
            do { _ = try description.outputShape(for: [4]) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
        // An add of two shapes, deep in a tree: the path is block.0 and both shapes are named.
        let block = ModuleDescription.graph(
            [.init("conv", .conv2d(inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, groups: 1))],
            nodes: [.call("conv", input: "input", output: "conv"), .add(["conv", "input"], output: "sum")], label: "Bad block")
        let tree = ModuleDescription.sequential([.init("block", .chain([block]))], label: "Net")
        do {
            _ = try tree.outputShape(for: [2, 5, 5])
            Issue.record("a mismatched add was accepted")
        } catch let error as NeuralNetError {
            #expect(error.modulePath == ["block", "0"] && "\(error)".contains("[3, 5, 5]") && "\(error)".contains("[2, 5, 5]"), "\(error)")
        }
    }

    @Test func checkpointsStoreTheTreeAndLoadIt() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for spec in ["resnet:1x10x10:depth=8,width=2", "mobilenetv2:1x10x10:width=4,expansion=2,blocks=1", "cnn-small"] {
            let model = try Network(ModelSpec(spec), seed: 5)
            #expect(try ModuleDescription(json: model.architecture.json) == model.architecture, "\(spec) round-trips through JSON")
            let x = GradientCheck.randomTensor([3] + model.inputShape, seed: 6)
            _ = model.forward(x, training: true)
            let url = dir.appendingPathComponent("m.safetensors")
            try Checkpoint.save(model, to: url)
            let (loaded, metadata) = try Checkpoint.load(url)
            #expect(metadata.format == "3" && metadata.graph == model.architecture.json)
            #expect(loaded.forward(x, training: false) == model.forward(x, training: false), "\(spec)")
        }
        // A tree whose widths no spec writes (what structured pruning makes) is built from the file, not the spec.
        let spec = try ModelSpec("mlp:6-5-3")
        let narrower = ModuleDescription.chain([.flatten, .linear(inFeatures: 6, outFeatures: 2), .relu, .linear(inFeatures: 2, outFeatures: 3)])
        let model = try Network(spec, architecture: narrower, seed: 1)
        let url = dir.appendingPathComponent("narrow.safetensors")
        try Checkpoint.save(model, to: url)
        #expect(try Checkpoint.load(url).model.namedParameters.map(\.parameter.value.shape) == [[2, 6], [2], [3, 2], [3]])
        // A corrupt tree is reported, not half-loaded.
        var file = try SafeTensorsFile.read(url)
        file.metadata["distillery.graph"] = #"{"type":"sequential","label":"x","children":[{"name":"0","module":{"type":"warp"}}]}"#
        #expect { _ = try Checkpoint.restore(file, source: "bad.safetensors") } throws: { "\($0)".contains("unknown module type 'warp'") }
        file.metadata["distillery.format"] = "9"
        #expect { _ = try Checkpoint.restore(file, source: "bad.safetensors") } throws: { "\($0)".contains("format '9'") }
    }

    @Test func familySpecsRefuseWhatTheyCannotBuild() {
        for (bad, message) in [("resnet:1x28x28:depth=21,width=16", "6n + 2"), ("resnet:1x28x28:width=16", "needs depth=N"),
                               ("resnet:1x28x28:depth=20,width=16,widht=3", "unknown option 'widht'"),
                               ("mobilenetv2:1x28:width=8", "CxHxW"), ("resnet:1x28x28:depth=20,width=-1", "positive integer")] {
            #expect { _ = try ModelSpec(bad) } throws: { "\($0)".contains(message) }
        }
    }
}
