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

    /// Top-k 8 of 256 with the tail: the job completes and its student learns the text about as well as on the
    /// whole distributions (tiny models, two epochs: a loose bound; `Benchmarks/` measures the real cost).
    @Test func aTopKLanguageModelJobTrainsOnTheBucketsAndTheTail() throws {
        guard try TestSupport.shakespeare() != nil else { return }
        var bits: [String: Double] = [:]
        for encoding in ["fp32", "topk:8"] {
            var s = ClusterHarness.Settings.languageModels
            s.encoding = encoding
            s.trainTeachers = true
            let h = try ClusterHarness("lm-cluster-\(encoding.replacingOccurrences(of: ":", with: "-"))", s)
            let run = try TestSupport.run(ClusterHarness.binary, ["run", h.jobPath], environment: ["DISTILLERY_THREADS": "1"], timeout: 300)
            try #require(run.status == 0, "\(encoding): run failed: \(run.stderr.suffix(2000))")
            let rows = try #require(try results(h)["rows"] as? [[String: Any]])
            bits[encoding] = rows.last?["bits_per_byte"] as? Double
        }
        let full = try #require(bits["fp32"]), topK = try #require(bits["topk:8"])
        #expect(full < 7 && abs(full - topK) < 0.3, "\(bits)")
    }
}
