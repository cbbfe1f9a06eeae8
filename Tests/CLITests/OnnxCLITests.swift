import Foundation
import Testing
import TestSupport

/// export, and eval/inspect of .onnx files, through the real binary; onnxruntime checks what we wrote.
@Suite(.serialized) struct OnnxCLITests {
    let cli = CLITests()
    let compression = CompressionCLITests()

    @Test func exportedStudentsEvaluateAsTheirCheckpointsAndRunInOnnxRuntime() throws {
        let dir = try TestSupport.temporaryDirectory()
        guard let (model, data) = try compression.trainedModel(in: dir) else { return }
        let int8 = dir.appendingPathComponent("int8.safetensors").path
        #expect(try cli.distillery(["quantize", "--model", model, "--mode", "ptq", "--per-channel", "--data", data, "--out", int8]).status == 0)
        var accuracies: [String: Double] = [:]
        for (source, form) in [(model, "fp32"), (int8, "int8 QDQ")] {
            let onnx = source.replacingOccurrences(of: ".safetensors", with: ".onnx")
            let export = try cli.distillery(["export", "--model", source, "--onnx", onnx, "--opset", "13", "--json"])
            #expect(export.status == 0, "\(export.stderr)")
            #expect(try cli.json(export.stdout)["form"] as? String == form)
            // The normalisation the checkpoint records is inside the graph: the ONNX file reads raw inputs.
            let ours = try cli.json(try cli.distillery(["eval", "--model", source, "--data", data, "--json"]).stdout)
            let theirs = try cli.json(try cli.distillery(["eval", "--model", onnx, "--data", data, "--json"]).stdout)
            #expect(theirs["format"] as? String == "onnx")
            let a = try #require(ours["accuracy"] as? Double), b = try #require(theirs["accuracy"] as? Double)
            #expect(abs(a - b) < 0.005, "\(form): checkpoint \(a), onnx \(b)")
            accuracies[onnx] = b
            let inspect = try cli.json(try cli.distillery(["inspect", onnx, "--json"]).stdout)
            #expect(inspect["runnable"] as? Bool == true && inspect["classes"] as? Int == 3 && inspect["opset"] as? Int == 13, "\(inspect)")
            let bench = try cli.distillery(["bench", "infer", "--model", source, "--model", onnx, "--batch-size", "8", "--repeats", "1",
                                            "--seconds", "0.05", "--json"])
            #expect(bench.status == 0, "\(bench.stderr)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [[String: Any]])
            #expect(rows.count == 2 && rows[1]["format"] as? String == "onnx" && (rows[1]["samples_per_second"] as? Double ?? 0) > 0, "\(rows)")
        }
        let script = """
            import numpy as np, onnxruntime as ort
            d = np.load("\(data.dropFirst(4))")
            for path in \(accuracies.keys.sorted()):
                s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                x = d["x_test"].astype(np.float32).reshape([-1] + s.get_inputs()[0].shape[1:])
                print(float((s.run(None, {"input": x})[0].argmax(1) == d["y_test"]).mean()))
            """
        guard let ran = try TestSupport.python(script, needs: ["onnxruntime", "numpy"]) else { return }
        try #require(ran.status == 0, "\(ran.stderr)")
        let ort = ran.stdout.split(separator: "\n").compactMap { Double($0) }
        for (path, theirs) in zip(accuracies.keys.sorted(), ort) {
            #expect(abs(accuracies[path]! - theirs) < 0.005, "\(path): distillery \(accuracies[path]!), onnxruntime \(theirs)")
        }
    }

    /// A channels-last model (batch, 8, 8, 3) on images stored (n, 8, 8, 3): transposed into the graph's layout, so
    /// Distillery's accuracy is onnxruntime's; a layout that maps to neither is refused, naming both.
    @Test func channelsLastInputsAreTransposedNotReshaped() throws {
        let dir = try TestSupport.temporaryDirectory("onnx-layout")
        let data = dir.appendingPathComponent("rgb.npz").path
        guard let made = try TestSupport.python("""
            import numpy as np, onnx, onnxruntime as ort
            from onnx import helper, TensorProto, numpy_helper
            rng = np.random.default_rng(3)
            def make(n):
                y = rng.integers(0, 3, n)
                x = rng.uniform(0, 0.3, (n, 8, 8, 3)).astype(np.float32)
                x[np.arange(n), :, :, y] += 0.6          # the class is the brightest channel
                x[np.arange(n), y * 2, :, :] += 0.3      # and a bright row, so layouts cannot be confused
                return x, y
            xt, yt = make(600); xv, yv = make(300)
            np.savez("\(data)", x_train=xt, y_train=yt, x_test=xv, y_test=yv)
            w = np.linalg.lstsq(xt.reshape(600, -1), np.eye(3)[yt], rcond=None)[0].astype(np.float32)
            def save(path, shape, perm):
                nodes = [helper.make_node("Transpose", ["input"], ["t"], perm=perm)] if perm else []
                nodes += [helper.make_node("Flatten", ["t" if perm else "input"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])]
                graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n"] + shape)],
                                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])], [numpy_helper.from_array(w, "w")])
                onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
            save("\(dir.path)/nhwc.onnx", [8, 8, 3], None)
            save("\(dir.path)/odd.onnx", [8, 3, 8], [0, 1, 3, 2])
            s = ort.InferenceSession("\(dir.path)/nhwc.onnx", providers=["CPUExecutionProvider"])
            print(float((s.run(None, {"input": xv})[0].argmax(1) == yv).mean()))
            """, needs: ["numpy", "onnx", "onnxruntime"]) else { return }
        try #require(made.status == 0, "\(made.stderr)")
        let reference = try #require(Double(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(reference > 0.9, "the channels-last model itself: \(reference)")
        let eval = try cli.distillery(["eval", "--model", "\(dir.path)/nhwc.onnx", "--data", "npz:\(data)", "--json"])
        try #require(eval.status == 0, "\(eval.stderr)")
        let accuracy = try #require(try cli.json(eval.stdout)["accuracy"] as? Double)
        #expect(abs(accuracy - reference) < 1e-9, "distillery \(accuracy), onnxruntime \(reference)")
        let odd = try cli.distillery(["eval", "--model", "\(dir.path)/odd.onnx", "--data", "npz:\(data)"])
        #expect(odd.status != 0 && odd.stderr.contains("(8, 3, 8)") && odd.stderr.contains("(c, h, w) = (3, 8, 8)"), "\(odd.stderr)")
    }

    @Test func brokenAndUnsupportedOnnxFilesAreClearErrors() throws {
        let dir = try TestSupport.temporaryDirectory()
        let broken = dir.appendingPathComponent("broken.onnx")
        try Data([0x08, 0x07, 0x12, 0xFF, 0xFF]).write(to: broken)
        for arguments in [["eval", "--model", broken.path, "--data", "fashion-mnist"], ["inspect", broken.path]] {
            let result = try cli.distillery(arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains("broken.onnx: not an ONNX model"), "\(result.stderr)")
        }
        let export = try cli.distillery(["export", "--model", dir.appendingPathComponent("missing.safetensors").path, "--onnx", broken.path])
        #expect(export.status != 0 && export.stderr.contains("missing.safetensors"), "\(export.stderr)")
        let opset = try cli.distillery(["export", "--model", "x.safetensors", "--onnx", "y.onnx", "--opset", "9"])
        #expect(opset.status != 0 && opset.stderr.contains("--opset must be in 11...21"), "\(opset.stderr)")
    }
}
