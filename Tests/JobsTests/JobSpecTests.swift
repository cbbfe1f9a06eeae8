import Foundation
import Testing
import TestSupport
@testable import Jobs
import Compression
import Datasets

@Suite struct JobSpecTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theExampleJobsParse() throws {
        let path = JobSpecTests.repositoryRoot.appendingPathComponent("cluster/jobs/fashion-ensemble.yaml").path
        let job = try JobSpec.load(path)
        #expect(job.name == "fashion-ensemble")
        #expect(job.teachers.map(\.name) == ["cnn-a", "cnn-b", "cnn-c"])
        #expect(job.teachers[0].trainModel?.text == "cnn:1x28x28:c32bn-p-c64bn-p-f128-d0.3-10")
        #expect(job.teachers[0].checkpoint == JobSpecTests.repositoryRoot.appendingPathComponent("runs/teachers/full-cnn-a.safetensors").path)
        #expect(job.teachers.allSatisfy { $0.trainEpochs == 40 && $0.trainAugmentation == Augmentation(translate: 2) })
        #expect(job.temperature == 2 && job.alpha == 0.5 && job.combine == .probabilities)
        #expect(job.student.model.text == "cnn:1x28x28:c8-p-c16-p-f32-10" && job.student.replicas == 2 && job.student.baseline)
        #expect(job.softTargets == .float16 && job.cacheSoftTargets)
        #expect(job.data.augmentation.isIdentity)
        #expect(job.cluster.plaintext && job.cluster.localTeachers == 2 && job.cluster.leaseMilliseconds == 10000)
        let quick = try JobSpec.load(JobSpecTests.repositoryRoot.appendingPathComponent("cluster/jobs/fashion-quick.yaml").path)
        #expect(quick.student.model == job.student.model && quick.teachers.count == 3 && quick.student.baseline)
        #expect(quick.export == JobSpec.ExportStage(opset: 17))
        let pytorch = try JobSpec.load(JobSpecTests.repositoryRoot.appendingPathComponent("cluster/jobs/fashion-pytorch.yaml").path)
        #expect(pytorch.teachers.map(\.name) == ["pytorch", "cnn-a"] && pytorch.teachers[0].checkpoint.hasSuffix("runs/teachers/pytorch-cnn.onnx"))
        #expect(pytorch.export != nil && pytorch.quantize != nil)
    }

    static let minimal = """
    name: tiny
    data:
      dataset: fashion-mnist
    teachers:
      - name: t
        checkpoint: t.safetensors
    distillation:
      temperature: 2
    student:
      model: mlp:784-32-10
    cluster:
      plaintext: true
    """

    @Test func defaultsFillWhatAJobLeavesOut() throws {
        let job = try JobSpec.parse(JobSpecTests.minimal, file: "tiny.yaml", baseDirectory: "/jobs")
        #expect(job.alpha == 0.9 && job.combine == .probabilities && job.softTargets == .float32)
        #expect(job.student.epochs == 10 && job.student.batchSize == 128 && job.student.replicas == 1)
        #expect(job.teachers[0].checkpoint == "/jobs/t.safetensors")
        #expect(job.outputDirectory == "/jobs/runs/tiny")
    }

    @Test func compressionStagesParse() throws {
        let job = try JobSpec.parse(JobSpecTests.minimal + """

            prune: {method: lottery, sparsity: 0.9, rounds: 4, rewind: 500, finetune_epochs: 3, alpha: 0.7}
            quantize: {mode: qat, per_channel: false, calibration: percentile, epochs: 1}
            report: {methods: [synflow, random], sparsities: [0.5, 0.95]}
            """, file: "tiny.yaml")
        let prune = try #require(job.prune)
        #expect(prune.method == .lottery && prune.sparsity == 0.9 && prune.rounds == 4 && prune.rewind == .step(500) && prune.finetuneEpochs == 3 && prune.alpha == 0.7)
        let quantize = try #require(job.quantize)
        #expect(quantize.mode == .qat && !quantize.perChannel && quantize.calibration == .percentile && quantize.epochs == 1)
        #expect(job.report == JobSpec.ReportStage(methods: [.synflow, .random], sparsities: [0.5, 0.95], finetuneEpochs: 1))
        #expect(try JobSpec.parse(JobSpecTests.minimal, file: "tiny.yaml").prune == nil)
    }

    @Test func onnxTeachersAndTheExportStageParse() throws {
        let job = try JobSpec.parse(JobSpecTests.minimal + """

            export: {opset: 13}
            """, file: "tiny.yaml", baseDirectory: "/jobs")
        #expect(job.export == JobSpec.ExportStage(opset: 13))
        #expect(job.teachers[0].normalize == nil)
        let onnx = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors", with: "checkpoint: torch.onnx\n    normalize: 0.2860,0.3530")
        let parsed = try JobSpec.parse(onnx, file: "tiny.yaml", baseDirectory: "/jobs")
        #expect(parsed.teachers[0].checkpoint == "/jobs/torch.onnx" && parsed.teachers[0].normalize == .fixed(Normalization(mean: [0.2860], std: [0.3530])))
        let trained = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors", with: "checkpoint: torch.onnx\n    train: {model: \"mlp:784-10\"}")
        #expect { try JobSpec.parse(trained, file: "tiny.yaml") } throws: { "\($0)".contains("an ONNX teacher cannot be trained here") }
    }

    @Test func teachersMayTrainOnTheirOwnAugmentation() throws {
        let own = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors",
                                                             with: "checkpoint: t.safetensors\n    train: {model: \"mlp:784-10\", epochs: 2, augment: {translate: 2}}")
        let teacher = try JobSpec.parse(own, file: "tiny.yaml").teachers[0]
        #expect(teacher.trainAugmentation == Augmentation(translate: 2) && teacher.trainEpochs == 2)
        let plain = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors", with: "checkpoint: t.safetensors\n    train: {model: \"mlp:784-10\"}")
        #expect(try JobSpec.parse(plain, file: "tiny.yaml").teachers[0].trainAugmentation == nil)
        let typo = own.replacingOccurrences(of: "{translate: 2}", with: "{translat: 2}")
        #expect { try JobSpec.parse(typo, file: "tiny.yaml") } throws: { "\($0)".contains("did you mean 'translate'?") }
    }

    @Test func otherEncodingsToCompareParse() throws {
        let text = JobSpecTests.minimal + "\nsoft_targets:\n  encoding: topk:3\n  compare: [fp32, topk:2]"
        #expect(try JobSpec.parse(text, file: "job.yaml").softTargetComparisons == [.float32, .topK(2)])
        #expect { try JobSpec.parse(text.replacingOccurrences(of: "topk:2]", with: "topk:3]"), file: "job.yaml") } throws: {
            "\($0)".contains("lists an encoding twice")
        }
        #expect { try JobSpec.parse(text.replacingOccurrences(of: "topk:2]", with: "top2]"), file: "job.yaml") } throws: {
            "\($0)".contains("unknown encoding 'top2'")
        }
    }

    @Test func membersMayWeighTheirShareOfTheEnsemble() throws {
        #expect(try JobSpec.parse(JobSpecTests.minimal, file: "tiny.yaml").ensembleWeights == nil)
        let weighted = JobSpecTests.minimal.replacingOccurrences(of: "checkpoint: t.safetensors", with: "checkpoint: t.safetensors\n    weight: 2.5")
        let job = try JobSpec.parse(weighted, file: "tiny.yaml")
        #expect(job.teachers[0].weight == 2.5)
        let bad = weighted.replacingOccurrences(of: "weight: 2.5", with: "weight: 0")
        #expect { try JobSpec.parse(bad, file: "tiny.yaml") } throws: { "\($0)".contains("weight: 0") && "\($0)".contains("out of range") }
    }

    /// Each mistake is reported with the file, the line it is on, and a hint.
    @Test(arguments: [
        ("  temprature: 3", "distillation:", "unknown key 'temprature' in job.distillation (did you mean 'temperature'?)"),
        ("  alpha: 1.5", "distillation:", "job.distillation.alpha: 1.5 is out of range: must be in 0.0...1.0"),
        ("  combine: median", "distillation:", "unknown rule 'median'"),
        ("  model: mlp:784", "student:", "job.student.model"),
        ("  optimizer: rmsprop", "student:", "use sgd or adam"),
        ("  epochs: many", "student:", "expected an integer, got 'many'"),
        ("  shard_size: 0", "data:", "0 is out of range: must be in 1...1000000"),
        ("  dataset: cifar", "data:", "unknown data set"),
        ("  encoding: topk:50", "soft_targets:", "topk:K with 1 <= K <= 10"),
        ("  lease_ms: 100", "cluster:", "100 is out of range"),
        ("  heartbeat_ms: 3000", "cluster:", "heartbeats must come at least twice per lease"),
        ("  local_teachers: 0", "cluster:", "0 is out of range"),
        ("  method: biggest", "prune:", "unknown pruning method 'biggest'; use one of magnitude, global-magnitude"),
        ("  mode: int4", "quantize:", "expected ptq or qat, got 'int4'"),
        ("  methods: [magnitude, best]", "report:", "unknown pruning method 'best'"),
        ("  opset: 9", "export:", "job.export.opset: 9 is out of range: must be in 13...21"),
        ("    normalize: 0.5", "  - name: t", "use none, auto or MEAN,STD"),
    ])
    func mistakesNameTheLine(_ insert: String, _ after: String, _ message: String) throws {
        var lines = JobSpecTests.minimal.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !lines.contains(after) { lines.append(after) }
        var index = lines.firstIndex(of: after)! + 1
        // Replace the key where the section already has it, else add it as the section's first key.
        let key = insert.split(separator: ":").first!
        if let existing = lines[index...].prefix(while: { $0.hasPrefix(" ") }).firstIndex(where: { $0.split(separator: ":").first == key }) {
            index = existing
            lines[index] = insert
        } else {
            lines.insert(insert, at: index)
        }
        do {
            _ = try JobSpec.parse(lines.joined(separator: "\n"), file: "job.yaml")
            Issue.record("accepted: \(insert)")
        } catch let error as JobError {
            #expect(error.file == "job.yaml")
            #expect(error.line == index + 1, "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func topKSoftTargetsNeedTheProbabilityRule() {
        let text = JobSpecTests.minimal.replacingOccurrences(of: "  temperature: 2", with: "  temperature: 2\n  combine: logits")
            + "\nsoft_targets:\n  encoding: topk:3"
        #expect(throws: JobError.self) { try JobSpec.parse(text, file: "job.yaml") }
        #expect(throws: Never.self) { try JobSpec.parse(text.replacingOccurrences(of: "topk:3", with: "fp16"), file: "job.yaml") }
    }

    @Test func structuralProblems() {
        for (text, message) in [
            ("", "empty"),
            ("name: x\n  bad: [", "not valid YAML"),
            ("name: x\nname: y", "duplicated keys name"),
            ("- a\n- b", "job must be a mapping"),
            (JobSpecTests.minimal.replacingOccurrences(of: "  plaintext: true", with: "  plaintext: false"), "cluster.keys"),
            (JobSpecTests.minimal + "\nteachers2: []", "unknown key 'teachers2' in job (did you mean 'teachers'?)"),
            (JobSpecTests.minimal.replacingOccurrences(of: "teachers:\n  - name: t\n    checkpoint: t.safetensors", with: "teachers: []"), "at least one"),
        ] {
            #expect(throws: JobError.self, "\(message)") { try JobSpec.parse(text, file: "j.yaml") }
            do { _ = try JobSpec.parse(text, file: "j.yaml") } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
        #expect(throws: JobError.self) { try JobSpec.load("/nonexistent/job.yaml") }
    }
}
