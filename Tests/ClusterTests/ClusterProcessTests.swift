import Cluster
import Compression
import Foundation
import NeuralNet
import Testing
import TestSupport
import Wire

/// The daemons as real processes over real ZeroMQ TCP on loopback: whole jobs, and the faults a
/// cluster meets (kill -9, restarts, SIGTERM, garbage on the ports).
@Suite(.serialized) struct ClusterProcessTests {
    /// A job whose student trains long enough (a CNN, augmentation so teachers work every epoch) to
    /// interrupt mid-epoch.
    static var slowJob: ClusterHarness.Settings {
        var s = ClusterHarness.Settings()
        s.trainSamples = 6000
        s.shardSize = 200
        s.epochs = 6
        s.student = "cnn:1x8x8:c16-c16-f64-4"
        s.translate = 1
        return s
    }

    func weightsLine(_ log: String) -> String? {
        log.split(separator: "\n").first { $0.contains("weights sha256") }.flatMap { $0.components(separatedBy: "weights sha256 ").last?.split(separator: ";").first.map(String.init) }
    }

    @Test func runTrainsTeachersDistilsAndKeepsReplicasBitIdentical() throws {
        var s = ClusterHarness.Settings()
        s.replicas = 2
        s.trainTeachers = true
        s.encoding = "fp16"
        s.baseline = true
        s.extra = """
            prune: {method: global-magnitude, sparsity: 0.7, finetune_epochs: 1}
            quantize: {mode: ptq, per_channel: true, calibration: mse, sample: 500}
            report: {methods: [magnitude, synflow, lottery], sparsities: [0.5], finetune_epochs: 1}
            """
        let h = try ClusterHarness("cluster-run", s)
        let result = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath, "--json"], environment: ["DISTILLERY_THREADS": "2"], timeout: 300)
        #expect(result.status == 0, "run failed: \(result.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["model"] as? String ?? "" } == ["teacher t0", "teacher t1", "ensemble (2, probabilities)", "student alone", "student distilled"])
        let distilled = try #require(rows.last?["test_accuracy"] as? Double)
        #expect(distilled > 0.9, "the distilled student learned the blobs: \(distilled)")
        let logs = "\(h.output)/logs"
        let w1 = weightsLine(try String(contentsOfFile: "\(logs)/student-1.log", encoding: .utf8))
        let w2 = weightsLine(try String(contentsOfFile: "\(logs)/student-2.log", encoding: .utf8))
        #expect(w1 != nil && w1 == w2, "replicas must end bit-identical: \(String(describing: w1)) vs \(String(describing: w2))")
        // The two teachers were trained first and recorded; the student checkpoint loads.
        #expect(FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("teachers/t1.safetensors").path))
        _ = try Checkpoint.load(URL(fileURLWithPath: "\(h.output)/student.safetensors"))
        // Then the job's compression stages: pruned and int8 students, measured against the dense one.
        let compression = try #require(json["compression"] as? [String: Any])
        let entries = try #require(compression["entries"] as? [[String: Any]])
        #expect(entries.map { $0["stage"] as? String ?? "" } == ["dense fp32", "pruned", "int8"])
        #expect(entries.map { $0["format"] as? String ?? "" } == ["f32 dense", "f32 bitmask", "int8-per-channel bitmask"])
        #expect((entries[2]["test_accuracy"] as? Double ?? 0) > 0.85, "\(entries)")
        #expect((compression["size_ratio"] as? Double ?? 0) > 2, "\(compression)")  // a 1k-parameter model: the header weighs
        // And the report: the sweep's table, its plot, the lottery ticket's control.
        let report = try String(contentsOfFile: "\(h.output)/report.md", encoding: .utf8)
        for method in ["magnitude", "synflow", "lottery", "lottery, random re-init"] { #expect(report.contains("| \(method) "), "\(report)") }
        let plot = try String(contentsOfFile: "\(h.output)/accuracy-vs-sparsity.svg", encoding: .utf8)
        #expect(plot.hasPrefix("<svg") && plot.contains("<polyline") && plot.contains("synflow"))
    }

    /// The families through a job: a ResNet teacher trained by the job, a MobileNetV2-style student distilled
    /// through the cluster's processes, pruned by global magnitude inside its blocks, quantized to int8 (the tree
    /// runtime measures it) and exported as fp32 and QDQ ONNX.
    @Test func aResNetTeachesAMobileNetThroughAJobThatPrunesQuantizesAndExports() throws {
        var s = ClusterHarness.Settings()
        s.teachers = ["resnet:1x8x8:depth=8,width=4,classes=4"]
        s.student = "mobilenetv2:1x8x8:width=4,expansion=2,blocks=1,classes=4"
        s.trainTeachers = true
        s.epochs = 2
        s.extra = """
            prune: {method: global-magnitude, sparsity: 0.5, finetune_epochs: 1}
            quantize: {mode: ptq, per_channel: true, calibration: mse, sample: 500}
            export: {opset: 17}
            """
        let h = try ClusterHarness("cluster-families", s)
        let result = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath, "--json"], environment: ["DISTILLERY_THREADS": "2"], timeout: 300)
        try #require(result.status == 0, "run failed: \(result.stderr.suffix(2000))")
        let json = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["model"] as? String ?? "" } == ["teacher t0", "ensemble (1, probabilities)", "student distilled"])
        let distilled = try #require(rows.last?["test_accuracy"] as? Double)
        #expect(distilled > 0.8, "the distilled MobileNet learned the blobs: \(distilled)")
        let entries = try #require((json["compression"] as? [String: Any])?["entries"] as? [[String: Any]])
        #expect(entries.map { $0["format"] as? String ?? "" } == ["f32 dense", "f32 bitmask", "int8-per-channel bitmask"], "\(entries)")
        let accuracies = entries.map { $0["test_accuracy"] as? Double ?? 0 }
        #expect(accuracies[2] > 0.8 && abs(accuracies[2] - accuracies[1]) < 0.05, "\(entries)")
        let int8 = try CompressedCheckpoint.load(URL(fileURLWithPath: "\(h.output)/student-int8.safetensors"))
        #expect(int8.quantized?.layers.contains { $0.path == "blocks.1.depthwise.0" } == true)
        for file in ["student.onnx", "student-pruned.onnx", "student-int8.onnx"] {
            #expect(FileManager.default.fileExists(atPath: "\(h.output)/\(file)"), "\(file)")
        }
    }

    /// The issue's end to end: a PyTorch CNN exported to ONNX teaches beside one of ours, and the compressed
    /// student comes back as ONNX that onnxruntime runs with the accuracy Distillery reported.
    @Test func anOnnxTeacherFromPyTorchTeachesAndTheStudentComesBackAsOnnx() throws {
        var s = ClusterHarness.Settings()
        s.teachers = ["mlp:64-24-4"]
        s.extraTeachers = "  - {name: torch, checkpoint: teachers/torch.onnx}\n"
        s.extra = """
            quantize: {mode: ptq, per_channel: true, calibration: minmax, sample: 500}
            export: {opset: 17}
            """
        let h = try ClusterHarness("cluster-onnx", s)
        let data = h.directory.appendingPathComponent("data").path, onnx = h.directory.appendingPathComponent("teachers/torch.onnx").path
        let script = try String(contentsOfFile: TestSupport.peerScript("torch_blob_teacher.py"), encoding: .utf8)
        guard let made = try TestSupport.python("DATA = \"\(data)\"\nOUT = \"\(onnx)\"\nEPOCHS = 3\n" + script, needs: ["torch", "onnx"]) else { return }
        try #require(made.status == 0, "\(made.stderr)")
        let result = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath, "--json"], environment: ["DISTILLERY_THREADS": "2"], timeout: 300)
        try #require(result.status == 0, "run failed: \(result.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        let torchRow = try #require(rows.first { $0["model"] as? String == "teacher torch" })
        #expect((torchRow["spec"] as? String ?? "").hasPrefix("onnx:torch.onnx"))
        #expect((torchRow["test_accuracy"] as? Double ?? 0) > 0.9, "\(torchRow)")
        #expect((rows.last?["test_accuracy"] as? Double ?? 0) > 0.9, "\(rows)")
        // The torch teacher served its soft targets from a teacher daemon.
        let teacherLogs = try FileManager.default.contentsOfDirectory(atPath: "\(h.output)/logs").filter { $0.hasPrefix("teacher") }
        #expect(try teacherLogs.contains { try String(contentsOfFile: "\(h.output)/logs/\($0)", encoding: .utf8).contains("torch") })
        let entries = try #require((json["compression"] as? [String: Any])?["entries"] as? [[String: Any]])
        let int8 = try #require(entries.last)
        let exported = try #require(json["onnx"] as? [[String: Any]])
        #expect(Set(exported.compactMap { $0["form"] as? String }) == ["fp32", "int8 QDQ"])
        let int8Path = "\(h.output)/student-int8.onnx"
        #expect(exported.contains { $0["onnx"] as? String == int8Path })
        let check = """
            import numpy as np, onnxruntime as ort
            session = ort.InferenceSession("\(int8Path)", providers=["CPUExecutionProvider"])
            shape = session.get_inputs()[0].shape[1:]  # (64) for an MLP student, (1, 8, 8) for a CNN
            raw = np.fromfile("\(data)/t10k-images-idx3-ubyte", dtype=np.uint8)[16:].reshape([-1] + shape).astype(np.float32) / 255
            labels = np.fromfile("\(data)/t10k-labels-idx1-ubyte", dtype=np.uint8)[8:]
            print(float((session.run(None, {"input": raw})[0].argmax(1) == labels).mean()))
            """
        guard let ran = try TestSupport.python(check, needs: ["onnxruntime", "numpy"]) else { return }
        try #require(ran.status == 0, "\(ran.stderr)")
        let ortAccuracy = try #require(Double(ran.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let reported = try #require(int8["test_accuracy"] as? Double)
        #expect(abs(ortAccuracy - reported) <= 0.004, "onnxruntime \(ortAccuracy), Distillery reported \(reported)")
    }

    /// With one replica and fp32 soft targets the cluster does exactly the in-process distillation's
    /// arithmetic: same order, same augmented images, same ensemble sum; the weights agree bit for bit.
    @Test(arguments: [0, 1]) func theClusterEqualsInProcessDistillation(translate: Int) throws {
        var s = ClusterHarness.Settings()
        s.translate = translate
        s.cache = translate == 0
        let h = try ClusterHarness("cluster-vs-in-process", s)
        let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        #expect(run.status == 0, "run failed: \(run.stderr)")
        let local = try TestSupport.run(ClusterHarness.binary, ["distill", "--job", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        #expect(local.status == 0, "distill --job failed: \(local.stderr)")
        let cluster = try Checkpoint.load(URL(fileURLWithPath: "\(h.output)/student.safetensors")).model
        let inProcess = try Checkpoint.load(URL(fileURLWithPath: "\(h.output)/student-in-process.safetensors")).model
        for ((name, a), (_, b)) in zip(cluster.namedParameters, inProcess.namedParameters) {
            #expect(a.value.scalars == b.value.scalars, "\(name) differs between the cluster and the in-process run")
        }
    }

    @Test func curveEncryptsTheJobAndKeepsOutWorkersWithoutKeys() throws {
        var s = ClusterHarness.Settings()
        s.encrypted = true
        s.replicas = 2
        let h = try ClusterHarness("cluster-curve", s)
        let (_, endpoint) = try h.startCoordinator()
        #expect(h.log("coordinator").contains("(CURVE)"))
        // A worker without the keys never gets through the handshake, and says why.
        let outsider = try TestSupport.run(ClusterHarness.binary, ["teacher", "--coordinator", endpoint, "--connect-timeout", "2"], timeout: 60)
        #expect(outsider.status != 0 && outsider.stderr.contains("do --keys match"), "\(outsider.stderr)")
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        _ = try h.startStudent("student-a", coordinator: endpoint)
        _ = try h.startStudent("student-b", coordinator: endpoint)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student-a", timeout: 30) == 0)
        #expect(weightsLine(h.log("student-a")) != nil && weightsLine(h.log("student-a")) == weightsLine(h.log("student-b")))
    }

    @Test func aTeacherKilledMidEpochLeavesEveryItemDoneExactlyOnce() throws {
        let h = try ClusterHarness("cluster-kill-teacher", Self.slowJob)
        let (_, endpoint) = try h.startCoordinator()
        // 30 ms per item: teachers always hold work in flight and the job outlasts a lease, however fast the machine.
        let paced = ["DISTILLERY_FAULT_SLOW_COMPUTE_MS": "30"]
        let victim = try h.startTeacher("teacher-a", coordinator: endpoint, environment: paced)
        _ = try h.startTeacher("teacher-b", coordinator: endpoint, environment: paced)
        _ = try h.startStudent("student", coordinator: endpoint)
        let plan = try h.plan()
        try h.waitFor("teacher-a to finish some items", timeout: 60) { () -> Bool? in
            guard let s = h.status(endpoint), let a = s.workers.first(where: { $0.name == "teacher-a" }) else { return nil }
            return a.itemsDone >= 3 && s.itemsDone < s.itemsTotal / 2 ? true : nil
        }
        kill(victim.processIdentifier, SIGKILL)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0)
        #expect(try h.exitStatus("teacher-b", timeout: 30) == 0)
        #expect(h.log("coordinator").contains("lost its lease"))
        let state = try h.state(replicas: 1)
        #expect(try state.completedItems() == Set((0..<UInt64(plan.itemCount))))
        let epochs = try state.epochs()
        #expect(epochs.map(\.epoch) == Array(0..<plan.epochs))
        #expect(epochs.allSatisfy { $0.samples == plan.sampleCount }, "every epoch trained on every sample once: \(epochs)")
    }

    @Test func aCoordinatorKilledAndRestartedResumesTheJob() throws {
        let h = try ClusterHarness("cluster-restart", Self.slowJob)
        let (first, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        _ = try h.startStudent("student", coordinator: endpoint)
        try h.waitForMidJob(endpoint)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.3)
        _ = try h.startCoordinator(bind: endpoint, name: "coordinator-2")
        #expect(try h.exitStatus("coordinator-2", timeout: 120) == 0, "restarted coordinator: \(h.log("coordinator-2").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        #expect(try h.exitStatus("teacher", timeout: 30) == 0)
        let resumed = h.log("coordinator-2")
        let already = resumed.components(separatedBy: " already done").first?.split(separator: " ").last.flatMap { Int($0) }
        #expect((already ?? 0) >= 10, "the restart kept finished work: \(resumed.prefix(400))")
        let plan = try h.plan()
        #expect(try h.state(replicas: 1).completedItems().count == plan.itemCount)
        _ = try Checkpoint.load(URL(fileURLWithPath: "\(h.output)/student.safetensors"))
    }

    @Test func aDeadStudentReplicaStopsTheJobWithAClearError() throws {
        var s = Self.slowJob
        s.replicas = 2
        let h = try ClusterHarness("cluster-kill-student", s)
        let (_, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        let victim = try h.startStudent("student-a", coordinator: endpoint)
        _ = try h.startStudent("student-b", coordinator: endpoint, extra: ["--peer-timeout", "20"])
        try h.waitFor("training to start", timeout: 60) { () -> Bool? in
            guard let s = h.status(endpoint) else { return nil }
            return s.workers.contains { $0.role == "student" && ($0.samplesDone ?? 0) > 0 } ? true : nil
        }
        kill(victim.processIdentifier, SIGKILL)
        #expect(try h.exitStatus("coordinator", timeout: 30) == 1)
        #expect(h.log("coordinator").contains("student replica"))
        #expect(try h.exitStatus("student-b", timeout: 30) != 0)
        #expect(try h.exitStatus("teacher", timeout: 30) != 0)
        #expect(try h.state(replicas: 2).status.hasPrefix("failed: student replica"))
    }

    @Test func sigtermShutsEveryDaemonDownCleanlyAndHandsWorkBack() throws {
        let h = try ClusterHarness("cluster-sigterm", Self.slowJob)
        let (coordinator, endpoint) = try h.startCoordinator()
        let teacherA = try h.startTeacher("teacher-a", coordinator: endpoint)
        _ = try h.startTeacher("teacher-b", coordinator: endpoint)
        let student = try h.startStudent("student", coordinator: endpoint)
        try h.waitForMidJob(endpoint, fewest: 2)
        teacherA.terminate()
        #expect(try h.exitStatus("teacher-a", timeout: 20) == 0)
        #expect(h.log("teacher-a").contains("handed back"))
        try h.waitFor("the coordinator to see teacher-a leave", timeout: 10) { h.log("coordinator").contains("left (stopped") ? true : nil }
        student.terminate()
        #expect(try h.exitStatus("student", timeout: 20) == 0)
        // The job cannot go on without its student: the coordinator fails it, and the teacher hears so.
        #expect(try h.exitStatus("coordinator", timeout: 20) == 1)
        #expect(try h.exitStatus("teacher-b", timeout: 20) == 1, "teacher-b: \(h.log("teacher-b").suffix(800))")
        #expect(h.log("teacher-b").contains("job failed"))
        _ = coordinator
        // A coordinator stopped by SIGTERM keeps its state and exits 0.
        let h2 = try ClusterHarness("cluster-sigterm-coordinator", Self.slowJob)
        let (c2, _) = try h2.startCoordinator()
        c2.terminate()
        #expect(try h2.exitStatus("coordinator", timeout: 20) == 0)
        #expect(try h2.state(replicas: 1).status == "running")
    }

    @Test func garbageAndForeignMessagesOnEveryPortDoNotDisturbTheJob() throws {
        let h = try ClusterHarness("cluster-garbage", Self.slowJob)
        let (_, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        _ = try h.startStudent("student", coordinator: endpoint)
        let dataEndpoint = try h.waitFor("the student's data endpoint", timeout: 60) { () -> String? in
            h.log("student").components(separatedBy: "data endpoint ").dropFirst().first?.split(separator: "\n").first.map(String.init)
        }
        let context = Context()
        let control = try Socket(context, .dealer)
        try control.connect(endpoint)
        let data = try Socket(context, .push)
        try data.connect(dataEndpoint)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<200 {
            let junk = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try control.send([.bytes(junk), .bytes([1, 2, 3])])
            try data.send([.bytes(junk)])
            if i % 20 == 0 {
                // Well-formed but not allowed: a foreign job, an unregistered worker, soft targets of the wrong shape.
                try control.send(WireMessage(Envelope(jobID: "other-job", sender: "x", kind: .workDone(workID: 1, samples: 1))).frames())
                try control.send(WireMessage(Envelope(jobID: "test-job", sender: "x", kind: .workDone(workID: 1, samples: 1))).frames())
                let bogus = WireTensor(name: "targets", values: [Float](repeating: 0.25, count: 8), shape: [2, 4])
                try data.send(WireMessage(Envelope(jobID: "test-job", sender: "x", kind: .softTargets(SoftTargets(
                    workID: 0, epoch: 0, shard: 0, member: "t0", temperature: 2, probabilities: true, ranges: []))), tensors: [bogus]).frames())
                try data.send(WireMessage(Envelope(jobID: "test-job", sender: "x", kind: .gradients(step: 0, replica: 7, samples: 1))).frames())
            }
        }
        // Raw bytes that are not even ZMTP.
        let raw = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.split(separator: ":").last!)!).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if connected == 0 { _ = "GET / HTTP/1.0\r\n\r\n\u{0}\u{ff}garbage".withCString { write(raw, $0, strlen($0)) } }
        close(raw)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0)
        #expect(h.log("coordinator").contains("refused bad messages"))
        #expect(h.log("student").contains("refused bad messages on the data endpoint"))
        let plan = try h.plan()
        #expect(try h.state(replicas: 1).completedItems().count == plan.itemCount)
        control.close(); data.close()
    }

    @Test func aTeacherWhoseCheckpointDiffersFromTheJobsIsRefused() throws {
        let h = try ClusterHarness("cluster-model-hash")
        let (_, endpoint) = try h.startCoordinator()
        // The coordinator hashed t1 at start; the file changes under it (another machine's copy, say).
        try Checkpoint.save(try Network(try ModelSpec("mlp:64-24-4"), seed: 999),
                            to: h.directory.appendingPathComponent("teachers/t1.safetensors"))
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        #expect(try h.exitStatus("teacher", timeout: 30) != 0)
        #expect(h.log("teacher").contains("member 't1'") && h.log("teacher").contains("SHA-256"), "\(h.log("teacher"))")
        h.processes["coordinator"]?.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
    }

    @Test func statusAnswersWithWorkersLeasesAndProgress() throws {
        let h = try ClusterHarness("cluster-status", Self.slowJob)
        let (_, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        _ = try h.startStudent("student", coordinator: endpoint)
        let status = try h.waitFor("a student making progress", timeout: 60) { () -> ClusterStatus? in
            guard let s = h.status(endpoint), s.workers.contains(where: { ($0.samplesDone ?? 0) > 0 }) else { return nil }
            return s
        }
        #expect(status.job == "test-job")
        #expect(Set(status.workers.map(\.role)) == ["teacher", "student"])
        #expect(status.workers.allSatisfy { $0.leaseRemainingMs > 0 })
        #expect(status.progress > 0 && status.progress < 1)
        let cli = try TestSupport.run(ClusterHarness.binary, ["status", "--coordinator", endpoint])
        #expect(cli.status == 0 && cli.stdout.contains("teacher") && cli.stdout.contains("lease ms"), "\(cli.stdout)\(cli.stderr)")
        #expect(cli.stdout.contains("ETA") && cli.stdout.contains("epoch "), "\(cli.stdout)")
        // --watch refreshes until the job is over, then stops by itself.
        let watch = try TestSupport.run(ClusterHarness.binary, ["status", "--coordinator", endpoint, "--watch", "0.2", "--timeout", "0.5"], timeout: 120)
        #expect(watch.stdout.components(separatedBy: "lease ms").count > 3, "only \(watch.stdout.components(separatedBy: "lease ms").count - 1) refreshes")
        #expect(watch.stderr.contains("stopped answering") || watch.stdout.contains(": complete"), "\(watch.stderr.suffix(500))")
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0)
    }
}
