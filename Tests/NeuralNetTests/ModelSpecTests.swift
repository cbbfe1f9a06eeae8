import Compute
import Testing
@testable import NeuralNet

@Suite struct ModelSpecTests {
    @Test func mlpBuildsTheLayersAndParameterCountItNames() throws {
        let model = try Network(ModelSpec("mlp:784-1200-1200-10"), seed: 0)
        #expect(model.layers.map(\.summary) == ["Flatten", "Linear(784 -> 1200)", "ReLU", "Linear(1200 -> 1200)", "ReLU", "Linear(1200 -> 10)"])
        #expect(model.parameterCount == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10)
        #expect(model.forward(Tensor(zeros: [2, 1, 28, 28]), training: false).shape == [2, 10])
        let options = try Network(ModelSpec("mlp:20-8-3:dropout=0.5:bn"), seed: 0)
        #expect(options.layers.map(\.summary) == ["Flatten", "Linear(20 -> 8)", "BatchNorm(8)", "ReLU", "Dropout(p=0.5)", "Linear(8 -> 3)"])
    }

    @Test func cnnTokensAndNamedModels() throws {
        let lenet = try Network(ModelSpec("lenet5"), seed: 0)
        #expect(lenet.spec.text == "cnn:1x28x28:c6k5-p-c16k5p0-p-f120-f84-10")
        #expect(lenet.forward(Tensor(zeros: [3, 1, 28, 28]), training: false).shape == [3, 10])
        #expect(lenet.parameterCount == 61_706)  // LeNet-5 with ReLU and max pooling, as in the literature
        let small = try Network(ModelSpec("cnn:3x8x8:c4k3s2bn-p-d0.2-5"), seed: 0)
        #expect(small.layers.map(\.summary) == [
            "Conv2d(3 -> 4, k=3, stride=2, pad=1)", "BatchNorm(4)", "ReLU", "MaxPool2d(k=2, stride=2)",
            "Dropout(p=0.2)", "Flatten", "Linear(16 -> 5)",
        ])
        #expect(try Network(ModelSpec("cnn-small"), seed: 0).classes == 10)
    }

    @Test(arguments: ["mlp:784", "mlp:784-x-10", "mlp:784-10:dropout=1.5", "resnet", "cnn:1x28:c8-10",
                      "cnn:1x28x28:c8-q-10", "cnn:1x28x28:c8-p", "cnn:1x4x4:c8k5p0-10", "cnn:1x28x28:ck3-10"])
    func invalidSpecsAreExplained(_ text: String) {
        do {
            _ = try Network(ModelSpec(text), seed: 0)
            Issue.record("'\(text)' was accepted")
        } catch let error as NeuralNetError {
            #expect(error.description.contains(text) || error.description.contains("smaller than the kernel"), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func sameSeedSameWeightsDifferentSeedDifferentWeights() throws {
        let spec = try ModelSpec("mlp:10-6-3")
        let a = try Network(spec, seed: 5), b = try Network(spec, seed: 5), c = try Network(spec, seed: 6)
        #expect(a.namedParameters.map(\.parameter.value) == b.namedParameters.map(\.parameter.value))
        #expect(a.namedParameters.map(\.parameter.value) != c.namedParameters.map(\.parameter.value))
        #expect(a.namedParameters.map(\.name) == ["1.weight", "1.bias", "3.weight", "3.bias"])
    }
}
