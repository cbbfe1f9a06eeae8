import Foundation
import SafeTensors
import Testing
import TestSupport

/// Broken data sets and model files (the fault campaign's): each is an error that names the file, the tensor or the
/// label and the value, with a non-zero exit; nothing crashes, nothing is accepted, no earlier output is overwritten.
@Suite(.serialized) struct BadFilesCLITests {
    func distillery(_ args: [String]) throws -> ProcessResult {
        try TestSupport.run(TestSupport.distilleryBinary, args, environment: ["DISTILLERY_THREADS": "2"], timeout: 120)
    }

    /// An npz of 4x4 images in three separable classes, with the labels and sizes the test asks for.
    func npz(_ dir: URL, _ name: String, train: Int = 300, test: Int = 60, trainLabel: Int? = nil, testLabel: Int? = nil) throws -> String? {
        let path = dir.appendingPathComponent(name).path
        let made = try TestSupport.python("""
            import numpy as np
            rng = np.random.default_rng(1)
            def make(n, odd):
                y = np.arange(n) % 3
                x = rng.normal(0, 0.5, (n, 4, 4)).astype(np.float32)
                x[np.arange(n), y % 4, :] += 1.5
                if odd is not None and n > 0: y[n // 2] = odd
                return x, y.astype(np.int64)
            xt, yt = make(\(train), \(trainLabel.map(String.init) ?? "None")); xv, yv = make(\(test), \(testLabel.map(String.init) ?? "None"))
            np.savez("\(path)", x_train=xt, y_train=yt, x_test=xv, y_test=yv)
            """, needs: ["numpy"])
        guard let made else { return nil }
        try #require(made.status == 0, "\(made.stderr)")
        return path
    }

    func expectRefused(_ result: ProcessResult, _ fragments: [String], _ what: String) {
        #expect(result.status != 0, "\(what) was accepted: \(result.stdout.suffix(300))")
        #expect(result.status == 1 || result.status == 64, "\(what) ended with status \(result.status) (a crash?): \(result.stderr.suffix(500))")
        for f in fragments { #expect(result.stderr.contains(f), "\(what): '\(f)' missing from: \(result.stderr.suffix(800))") }
    }

    @Test func labelsBeyondTheModelsClassesAndEmptySplits() throws {
        let dir = try TestSupport.temporaryDirectory("bad-data")
        guard let trainBad = try npz(dir, "train12.npz", trainLabel: 12), let testBad = try npz(dir, "test60000.npz", testLabel: 60000),
              let noTest = try npz(dir, "notest.npz", test: 0), let noTrain = try npz(dir, "notrain.npz", train: 0),
              let good = try npz(dir, "good.npz") else { return }
        let out = dir.appendingPathComponent("m.safetensors").path
        let train = ["train", "--model", "mlp:16-8-10", "--epochs", "1", "--out", out, "--data"]
        expectRefused(try distillery(train + ["npz:\(trainBad)"]), ["training sample 150 has label 12", "10 classes"], "a training label of 12")
        expectRefused(try distillery(train + ["npz:\(testBad)"]), ["test sample 30 has label 60000"], "a test label of 60000")
        expectRefused(try distillery(train + ["npz:\(noTest)"]), ["the test split holds no images"], "no test images")
        expectRefused(try distillery(train + ["npz:\(noTrain)"]), ["the training split holds no images"], "no training images")
        #expect(!FileManager.default.fileExists(atPath: out), "an untrained model was saved")
        let huge = try distillery(["train", "--model", "mlp:16-1000000000-10", "--epochs", "1", "--out", out, "--data", "npz:\(good)"])
        expectRefused(huge, ["mlp:16-1000000000-10 has", "more than this machine's"], "a model of 10^9 hidden units")
    }

    @Test func checkpointsWithNaNOrFlattenedWeightsAreRefusedAndOutputsKept() throws {
        let dir = try TestSupport.temporaryDirectory("bad-checkpoints")
        guard let data = try npz(dir, "blobs.npz") else { return }
        let good = dir.appendingPathComponent("good.safetensors")
        let trained = try distillery(["train", "--model", "mlp:16-8-3", "--data", "npz:\(data)", "--epochs", "1", "--out", good.path])
        try #require(trained.status == 0, "\(trained.stderr)")
        var file = try SafeTensorsFile.read(good)
        let index = try #require(file.tensors.firstIndex { $0.name.hasSuffix(".weight") })
        let name = file.tensors[index].name
        // NaN and infinity in a weight.
        for bad: Float in [.nan, .infinity] {
            var broken = file
            var values = try #require(broken.tensors[index].floats())
            values[5] = bad
            broken.tensors[index] = TensorEntry(name: name, shape: broken.tensors[index].shape, floats: values)
            let path = dir.appendingPathComponent("broken.safetensors")
            try broken.write(to: path)
            let kept = dir.appendingPathComponent("kept.safetensors")
            try Data("earlier output\n".utf8).write(to: kept)
            for command in [["eval", "--model", path.path, "--data", "npz:\(data)"],
                            ["quantize", "--model", path.path, "--data", "npz:\(data)", "--mode", "ptq", "--out", kept.path],
                            ["prune", "--model", path.path, "--data", "npz:\(data)", "--method", "magnitude", "--sparsity", "0.5", "--finetune-epochs", "0", "--out", kept.path],
                            ["export", "--model", path.path, "--onnx", kept.path]] {
                expectRefused(try distillery(command), [path.path, "tensor '\(name)' holds \(bad) at index 5"], "\(command[0]) of a \(bad) weight")
                #expect(try String(contentsOf: kept, encoding: .utf8) == "earlier output\n", "\(command[0]) overwrote its output")
            }
        }
        // A weight stored flat ([n] instead of [out, in]).
        let shape = file.tensors[index].shape
        file.tensors[index].shape = [shape.reduce(1, *)]
        let flat = dir.appendingPathComponent("flat.safetensors")
        try file.write(to: flat)
        expectRefused(try distillery(["eval", "--model", flat.path, "--data", "npz:\(data)"]), ["tensor '\(name)'", "\(shape)"], "a flattened weight")
    }

    @Test func onnxExternalDataOffsetsThatOverflowAreRefused() throws {
        let dir = try TestSupport.temporaryDirectory("bad-onnx")
        let path = dir.appendingPathComponent("external.onnx").path
        guard let made = try TestSupport.python("""
            import numpy as np, onnx
            from onnx import helper, TensorProto
            w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[16, 3])
            w.data_location = TensorProto.EXTERNAL
            for k, v in [("location", "w.bin"), ("offset", str(2**63 - 1)), ("length", "192")]:
                e = w.external_data.add(); e.key = k; e.value = v
            open("\(dir.path)/w.bin", "wb").write(np.zeros(48, np.float32).tobytes())
            graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["logits"])], "g",
                [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 16])],
                [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])], [w])
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "\(path)")
            """, needs: ["onnx", "numpy"]) else { return }
        try #require(made.status == 0, "\(made.stderr)")
        expectRefused(try distillery(["inspect", path]), ["tensor 'w'", "offset 9223372036854775807", "do not fit"], "an overflowing external offset")
    }
}
