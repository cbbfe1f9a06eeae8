import Cluster
import Foundation
import NeuralNet
import Testing
import TestSupport

/// Byte-level GPTs through the cluster as real processes: per-token soft targets from an ensemble of LM teachers on
/// teacher workers, a row of 256 probabilities per position of every window.
@Suite(.serialized) struct LanguageModelClusterTests {
    func results(_ h: ClusterHarness) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(h.output)/results.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// One replica, fp32 targets, members weighted 3:1: the cluster's student equals `distill --job`'s bit for bit,
    /// and the results table scores every model in bits per byte.
    @Test func aWeightedLanguageModelEnsembleInTheClusterEqualsInProcessDistillation() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        var s = ClusterHarness.Settings.languageModels
        s.weights = [3, 1]
        s.baseline = true
        let h = try ClusterHarness("lm-cluster-vs-in-process", s)
        let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        try #require(run.status == 0, "run failed: \(run.stderr.suffix(2000))")
        let reference = try h.referenceWeights()
        let cluster = try h.weights()
        #expect(!cluster.isEmpty && cluster.keys.sorted() == reference.keys.sorted())
        for (name, values) in cluster { #expect(values == reference[name], "\(name) differs between the cluster and the in-process run") }

        let rows = try #require(try results(h)["rows"] as? [[String: Any]])
        #expect(rows.compactMap { $0["model"] as? String } == ["teacher t0", "teacher t1", "ensemble (2, at T = 1)", "student alone", "student distilled"])
        let bits = rows.compactMap { $0["bits_per_byte"] as? Double }
        // Every model is scored, each better than nothing (8 bits) and worse than perfect.
        #expect(bits.count == rows.count && bits.allSatisfy { $0 > 0.5 && $0 < 9 }, "\(rows)")
        #expect(run.stdout.contains("bits per byte"), "\(run.stdout)")

        // The baseline is kept beside the distilled student: `eval --json` on the same held-out windows scores it as
        // the table did, and both continue a prompt.
        let alone = "\(h.output)/student-alone.safetensors"
        let evaluated = try TestSupport.run(ClusterHarness.binary, ["eval", "--model", alone, "--data", "shakespeare", "--limit", "600",
                                                                    "--test-limit", "100", "--json"], timeout: 120)
        try #require(evaluated.status == 0, "eval failed: \(evaluated.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8))
        let evaluatedBits = ((summary as? [[String: Any]])?.first ?? summary as? [String: Any])?["bits_per_byte"] as? Double
        let tableBits = rows.first { $0["model"] as? String == "student alone" }?["bits_per_byte"] as? Double
        #expect(evaluatedBits != nil && tableBits != nil && abs(evaluatedBits! - tableBits!) < 1e-6, "eval \(evaluated.stdout), table \(rows)")
        for model in [alone, "\(h.output)/student.safetensors"] {
            let sample = try TestSupport.run(ClusterHarness.binary, ["generate", "--model", model, "--prompt", "KING.", "--tokens", "20", "--json"])
            let text = (try? JSONSerialization.jsonObject(with: Data(sample.stdout.utf8)) as? [String: Any])?["text"] as? String
            #expect(sample.status == 0 && text?.isEmpty == false, "generate \(model): \(sample.stdout) \(sample.stderr)")
        }
    }

    /// Two replicas on one ensemble's per-token targets keep bit-identical weights.
    @Test func languageModelReplicasStayBitIdentical() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        var s = ClusterHarness.Settings.languageModels
        s.replicas = 2
        s.encoding = "fp16"
        let h = try ClusterHarness("lm-cluster-replicas", s)
        let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        try #require(run.status == 0, "run failed: \(run.stderr.suffix(2000))")
        let lines = try ["student-1", "student-2"].map { name in
            try String(contentsOfFile: "\(h.output)/logs/\(name).log", encoding: .utf8).split(separator: "\n")
                .first { $0.contains("weights sha256") }?.components(separatedBy: "weights sha256 ").last?.prefix(64)
        }
        #expect(lines[0]?.count == 64 && lines[0] == lines[1], "\(lines)")
    }

    /// Top-k 8 of 256 with the tail, beside fp32 in the same job (`soft_targets.compare`): both runs complete, the
    /// table has a row for each, each student learns from its targets (the README's job measures the real cost).
    @Test func aTopKLanguageModelRunBesideFullTargetsTrainsOnTheBucketsAndTheTail() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        var s = ClusterHarness.Settings.languageModels
        s.compare = ["topk:8"]
        s.trainTeachers = true
        // Enough steps that the teachers know more than a uniform byte (the default batch leaves them near 8 bits).
        s.teacherTraining = "epochs: 3, lr: 0.01, batch_size: 20"
        // As language models are distilled (the README's job): the teachers' own distribution, no hard labels.
        s.distillation = "{temperature: 1, alpha: 1}"
        let h = try ClusterHarness("lm-cluster-topk", s)
        let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
        try #require(run.status == 0, "run failed: \(run.stderr.suffix(2000))")
        let rows = try #require(try results(h)["rows"] as? [[String: Any]])
        let bits = Dictionary(uniqueKeysWithValues: rows.compactMap { row in
            (row["model"] as? String).flatMap { name in (row["bits_per_byte"] as? Double).map { (name, $0) } }
        })
        let full = try #require(bits["student distilled (fp32)"]), topK = try #require(bits["student distilled (topk:8)"])
        let ensemble = try #require(bits["ensemble (2, at T = 1)"])
        // On full targets alone the student comes close to its teachers; eight buckets and a tail tell it less (these
        // small teachers leave much of their mass in the tail), yet it learns far more than a uniform byte (8 bits).
        #expect(full - ensemble < 0.3 && full < topK && topK < 7.5, "\(bits)")
        #expect(FileManager.default.fileExists(atPath: "\(h.output)/compare-topk-8/student.safetensors"))
    }

    /// Top-k targets are kept for later epochs (as their k classes and the tail): the teachers work on the first
    /// epoch only, and the student trains bit for bit as when the teachers send every epoch again.
    @Test func topKTargetsKeptForLaterEpochsTrainAsIfSentAgain() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        var runs: [(weights: [String: [Float]], items: Int, plan: WorkPlan)] = []
        for cache in [true, false] {
            var s = ClusterHarness.Settings.languageModels
            s.encoding = "topk:16"
            s.cache = cache
            let h = try ClusterHarness("lm-cluster-cache-\(cache)", s)
            let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
            try #require(run.status == 0, "run failed: \(run.stderr.suffix(2000))")
            runs.append((try h.weights(), try h.state(replicas: 1).completedItems().count, try h.plan()))
        }
        let (kept, sent) = (runs[0], runs[1])
        #expect(kept.plan.teacherEpochs == 1 && sent.plan.teacherEpochs == sent.plan.epochs && sent.plan.epochs == 2)
        #expect(kept.items == kept.plan.shardsPerEpoch * 2 && sent.items == 2 * kept.items, "items done: \(kept.items) kept, \(sent.items) sent")
        #expect(!kept.weights.isEmpty && kept.weights.keys.sorted() == sent.weights.keys.sorted())
        for (name, values) in kept.weights { #expect(values == sent.weights[name], "\(name) differs between the kept and the re-sent targets") }
    }

    /// An LM job long enough to strike mid-epoch: more windows in smaller shards, teachers paced.
    static var slowLanguageJob: ClusterHarness.Settings {
        var s = ClusterHarness.Settings.languageModels
        s.trainSamples = 1200
        s.shardSize = 20
        s.epochs = 3
        return s
    }

    /// A teacher killed mid-epoch: its window-shards go to the other teacher, each done exactly once, every epoch
    /// trains on every window once.
    @Test func aTeacherKilledMidEpochLeavesEveryWindowShardDoneExactlyOnce() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        let h = try ClusterHarness("lm-kill-teacher", Self.slowLanguageJob)
        let (_, endpoint) = try h.startCoordinator()
        let paced = ["DISTILLERY_FAULT_SLOW_COMPUTE_MS": "30"]
        let victim = try h.startTeacher("teacher-a", coordinator: endpoint, environment: paced)
        _ = try h.startTeacher("teacher-b", coordinator: endpoint, environment: paced)
        _ = try h.startStudent("student", coordinator: endpoint)
        let plan = try h.plan()
        #expect(plan.rowsPerSample == 16)
        try h.waitFor("teacher-a to finish some items", timeout: 60) { () -> Bool? in
            guard let s = h.status(endpoint), let a = s.workers.first(where: { $0.name == "teacher-a" }) else { return nil }
            return a.itemsDone >= 3 && s.itemsDone < s.itemsTotal / 2 ? true : nil
        }
        kill(victim.processIdentifier, SIGKILL)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0)
        #expect(h.log("coordinator").contains("lost its lease"))
        let state = try h.state(replicas: 1)
        #expect(try state.completedItems() == Set((0..<UInt64(plan.itemCount))))
        let epochs = try state.epochs()
        #expect(epochs.map(\.epoch) == Array(0..<plan.epochs) && epochs.allSatisfy { $0.samples == plan.sampleCount }, "\(epochs)")
    }

    /// An LM job's daemons serve /metrics as an image job's do: the coordinator counts the job's window-shard items
    /// and its workers, the teacher its items and the bytes of per-token targets it sent, the student what it
    /// received and trained on; `status` lists both workers.
    @Test func aLanguageModelJobsDaemonsServeMetricsAndStatus() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        let h = try ClusterHarness("lm-metrics", Self.slowLanguageJob)
        let metrics = ["--metrics", "127.0.0.1:0"], probe = MetricsProcessTests()
        let (_, endpoint) = try h.startCoordinator(extra: metrics)
        // Paced so the job outlasts the scrapes even on a loaded machine (360 items, at least 22 s).
        _ = try h.startTeacher("teacher", coordinator: endpoint, extra: metrics, environment: ["DISTILLERY_FAULT_SLOW_COMPUTE_MS": "60"])
        _ = try h.startStudent("student", coordinator: endpoint, extra: metrics)
        let ports = try ["coordinator", "teacher", "student"].map { try probe.metricsPort(h, $0) }
        _ = try h.waitFor("the student's first steps", timeout: 60) {
            try probe.scrape(ports[2]).value("distillery_student_steps_total").flatMap { $0 > 0 ? true : nil }
        }
        // The coordinator's gauges are refreshed every half second.
        _ = try h.waitFor("the coordinator's gauges to count both workers", timeout: 20) { () -> Bool? in
            let scraped = try probe.scrape(ports[0])
            let counts = ["teacher", "student"].map { scraped.value("distillery_coordinator_workers", ["role": $0]) }
            return counts == [1, 1] ? true : nil
        }
        let (coordinator, teacher, student) = (try probe.scrape(ports[0]), try probe.scrape(ports[1]), try probe.scrape(ports[2]))
        let items = try h.plan().itemCount
        #expect(coordinator.value("distillery_coordinator_work_items") == Double(items))
        #expect((teacher.value("distillery_teacher_items_done_total") ?? 0) > 0)
        // fp32 per-token targets: at least one shard's windows x context x 256 x 4 bytes went out.
        let shardBytes = Double(Self.slowLanguageJob.shardSize * 16 * 256 * 4)
        #expect((teacher.value("distillery_teacher_soft_targets_sent_bytes_total") ?? 0) >= shardBytes)
        #expect((student.value("distillery_student_soft_targets_received_bytes_total") ?? 0) >= shardBytes)
        #expect((student.value("distillery_student_samples_total") ?? 0) > 0)
        let status = try #require(h.status(endpoint))
        #expect(Set(status.workers.map(\.name)) == ["teacher", "student"] && status.itemsTotal == items)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
    }

    /// The coordinator killed mid-job and started again on its state: the LM job resumes and completes.
    @Test func aCoordinatorRestartedMidJobResumesTheLanguageModelJob() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        let h = try ClusterHarness("lm-restart", Self.slowLanguageJob)
        let (first, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint, environment: ["DISTILLERY_FAULT_SLOW_COMPUTE_MS": "20"])
        _ = try h.startStudent("student", coordinator: endpoint)
        try h.waitForMidJob(endpoint)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.3)
        _ = try h.startCoordinator(bind: endpoint, name: "coordinator-2")
        #expect(try h.exitStatus("coordinator-2", timeout: 120) == 0, "restarted coordinator: \(h.log("coordinator-2").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        #expect(try h.state(replicas: 1).completedItems().count == (try h.plan()).itemCount)
        let model = try Checkpoint.load(URL(fileURLWithPath: "\(h.output)/student.safetensors")).model
        #expect(model.spec.isLanguageModel)
    }
}
