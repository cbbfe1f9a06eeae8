import ArgumentParser
import Foundation
import NeuralNet
import Pipeline
import Training

/// What `train` and `distill` share around the training loop: progress output, the checkpoint, the summary.
struct TrainingRun {
    let epochs: Int
    let json: Bool
    let started = Date()

    func onStep(_ p: StepProgress) {
        let fraction = Double(p.samplesDone) / Double(p.samplesTotal)
        Terminal.progress("epoch \(p.epoch + 1)/\(p.epochs) \(Terminal.bar(fraction)) \(Int(fraction * 100))% loss \(formatted(p.runningLoss)) \(Int(p.samplesPerSecond)) samples/s")
    }

    func onEpoch(_ r: EpochReport) {
        Terminal.clearProgress()
        let test = r.test.map { " test_loss \(formatted($0.loss)) test_acc \(formatted($0.accuracy))" } ?? ""
        let line = "epoch \(r.epoch + 1)/\(epochs) loss \(formatted(r.trainLoss)) acc \(formatted(r.trainAccuracy))\(test) lr \(r.learningRate) \(Int(r.samplesPerSecond)) samples/s"
        if json { Terminal.status(line) } else { Terminal.line(line) }
    }

    /// Saves the checkpoint (also after an interrupted run) and prints the summary; exits 130 when interrupted.
    func finish(_ network: Network, metadata: CheckpointMetadata, reports: [EpochReport], out: String) throws {
        Terminal.clearProgress()
        let interrupted = reports.count < epochs
        var meta = metadata
        meta.epochs = reports.count
        meta.created = ISO8601DateFormatter().string(from: Date())
        if let last = reports.last?.test { meta.testAccuracy = last.accuracy }
        let url = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Checkpoint.save(network, metadata: meta, to: url)
        let summary = TrainSummary(model: network.spec.text, out: out, epochs: reports.count, interrupted: interrupted,
                                   testAccuracy: reports.last?.test?.accuracy, testLoss: reports.last?.test?.loss,
                                   samplesPerSecond: reports.last?.samplesPerSecond, seconds: Date().timeIntervalSince(started))
        if json {
            try Terminal.printJSON(summary)
        } else {
            Terminal.line("\(interrupted ? "interrupted after \(reports.count) epochs; " : "")saved \(out)")
        }
        if interrupted { throw PipelineError.stopped }
    }
}

struct TrainSummary: Encodable {
    var model: String
    var out: String
    var epochs: Int
    var interrupted: Bool
    var testAccuracy: Double?
    var testLoss: Double?
    var samplesPerSecond: Double?
    var seconds: Double

    enum CodingKeys: String, CodingKey {
        case model, out, epochs, interrupted, seconds
        case testAccuracy = "test_accuracy", testLoss = "test_loss", samplesPerSecond = "samples_per_second"
    }
}
