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
