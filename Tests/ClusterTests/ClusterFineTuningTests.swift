import Cluster
import Compression
import Foundation
import NeuralNet
import Testing
import TestSupport

/// Fine-tuning after pruning with a job: the job's teachers serve through a cluster started for it (coordinator
/// and teacher processes), and the result is what the same fine-tuning gives with the teachers in process.
@Suite(.serialized) struct ClusterFineTuningTests {
    func weights(_ path: String) throws -> [[Float]] {
        try CompressedCheckpoint.load(URL(fileURLWithPath: path)).model.namedParameters.map(\.parameter.value.scalars)
    }

    @Test(arguments: [0, 1]) func pruningFineTunesThroughTheClusterExactlyAsInProcess(translate: Int) throws {
        var s = ClusterHarness.Settings()
        s.translate = translate
        s.epochs = 2
        let h = try ClusterHarness("cluster-finetune", s)
        let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "2"], timeout: 300)
        #expect(run.status == 0, "run: \(run.stderr.suffix(1500))")
        let student = "\(h.output)/student.safetensors"
        var outputs: [String] = []
        for mode in ["cluster", "in-process"] {
            let out = h.directory.appendingPathComponent("pruned-\(mode).safetensors").path
            let result = try TestSupport.run(ClusterHarness.binary, ["prune", "--model", student, "--method", "global-magnitude", "--sparsity", "0.6",
                                                                     "--job", h.jobPath, "--finetune-epochs", "2", "--out", out]
                                                                    + (mode == "in-process" ? ["--in-process"] : []),
                                             environment: ["DISTILLERY_THREADS": "2"], timeout: 300)
            #expect(result.status == 0, "prune (\(mode)): \(result.stderr.suffix(1500))")
            outputs.append(out)
        }
        #expect(try weights(outputs[0]) == weights(outputs[1]), "fine-tuning through the cluster differs from in-process")
        #expect(try weights(outputs[0]) != weights(student))
        // The cluster that served it ran its own job to the end and went away.
        let logs = try FileManager.default.contentsOfDirectory(atPath: "\(h.output)/logs").filter { $0.hasPrefix("finetune-") }
        #expect(logs.count == 1, "\(logs)")
        let coordinator = (try? String(contentsOfFile: "\(h.output)/logs/\(logs[0])/coordinator.log", encoding: .utf8)) ?? ""
        #expect(coordinator.contains("job complete"), "\(coordinator.suffix(1000))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.output).filter { $0.hasPrefix("finetune-") }.isEmpty)
    }
}
