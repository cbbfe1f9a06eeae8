import Cluster
import Compression
import Foundation
import Jobs
import NeuralNet

/// Test accuracy against sparsity for every pruning method on a job's distilled student, the figure of the
/// lottery-ticket and SynFlow papers, plus the lottery ticket's control: its masks on freshly drawn weights.
public struct PruningSweep {
    public let context: JobContext
    public let stage: JobSpec.ReportStage
    public let control: RunControl

    public init(context: JobContext, stage: JobSpec.ReportStage, control: RunControl) {
        self.context = context
        self.stage = stage
        self.control = control
    }

    public struct Point: Encodable {
        public var method: String
        public var targetSparsity: Double, sparsity: Double
        /// Before fine-tuning (data-free methods are judged here); nil for lottery tickets.
        public var prunedAccuracy: Double?
        public var accuracy: Double

        enum CodingKeys: String, CodingKey {
            case method, sparsity, accuracy
            case targetSparsity = "target_sparsity", prunedAccuracy = "pruned_accuracy"
        }
    }

    public static let lotteryControl = "lottery, random re-init"

    /// Accuracy of the dense student and of every (method, sparsity) point, in the stage's order.
    public func run(student path: String) throws -> (dense: Double, points: [Point]) {
        let inputs = try CompressionInputs(model: path, context: context, split: context.split, control: control)
        let network = inputs.contents.model
        let seed = inputs.contents.metadata.seed ?? context.spec.seed
        let tuner = try inputs.jobTuner(learningRate: 0.001, seed: seed) { _ in }
        var points: [Point] = []
        for method in stage.methods {
            for sparsity in stage.sparsities {
                try control.checkStop()
                let run = PruningRun(method: method, sparsity: sparsity, rounds: method == .lottery ? 3 : nil,
                                     finetuneEpochs: max(1, stage.finetuneEpochs), seed: seed)
                let result = try run.run(network, tuner: tuner, sample: { inputs.sample(512) })
                let point = Point(method: method.rawValue, targetSparsity: sparsity, sparsity: result.sparsity,
                                  prunedAccuracy: result.beforeFineTuning.map { inputs.accuracy($0) }, accuracy: inputs.accuracy(result.model))
                control.status("  \(method.rawValue) at \(formatted(sparsity * 100, 1)) %: "
                    + (point.prunedAccuracy.map { "pruned \(formatted($0 * 100, 2)) %, " } ?? "") + "fine-tuned \(formatted(point.accuracy * 100, 2)) %")
                points.append(point)
                if method == .lottery {
                    let ticket = LotteryTicket(sparsity: sparsity, rounds: 3, rewind: .initial, epochsPerRound: max(1, stage.finetuneEpochs))
                    let reinitialised = try ticket.randomReinitialisation(masks: PruningMasks.nonzero(result.model), spec: network.spec,
                                                                    seed: seed &+ 0x5EED, tuner: tuner)
                    points.append(Point(method: PruningSweep.lotteryControl, targetSparsity: sparsity, sparsity: result.sparsity,
                                        prunedAccuracy: nil, accuracy: inputs.accuracy(reinitialised)))
                    control.status("  \(PruningSweep.lotteryControl) at \(formatted(sparsity * 100, 1)) %: \(formatted(points.last!.accuracy * 100, 2)) %")
                }
            }
        }
        return (inputs.accuracy(network), points)
    }

    /// The methods in the order the sweep ran them.
    private static func methods(_ points: [Point]) -> [String] {
        points.reduce(into: [String]()) { if !$0.contains($1.method) { $0.append($1.method) } }
    }

    public static func markdown(dense: Double, points: [Point]) -> String {
        let methods = methods(points)
        let sparsities = Array(Set(points.map(\.targetSparsity))).sorted()
        let rows = methods.map { method in
            [method] + sparsities.map { s in
                guard let p = points.first(where: { $0.method == method && $0.targetSparsity == s }) else { return "" }
                return formatted(p.accuracy * 100, 2) + (p.prunedAccuracy.map { " (\(formatted($0 * 100, 1)))" } ?? "")
            }
        }
        let table = MarkdownTable(header: ["method"] + sparsities.map { "sparsity \(formatted($0 * 100, 0)) %" }, rows: rows,
                                  rightAligned: Set(1...sparsities.count))
        return "test accuracy (%) after fine-tuning, before it in parentheses; dense student \(formatted(dense * 100, 2)) %\n\n" + table.text
    }

    public static func plot(dense: Double, points: [Point]) -> String {
        let methods = methods(points)
        return SVGPlot(title: "Test accuracy against sparsity", xLabel: "sparsity (fraction of weights removed)", yLabel: "test accuracy (%)",
                       series: methods.map { m in .init(name: m, points: points.filter { $0.method == m }.map { ($0.sparsity, $0.accuracy * 100) }) },
                       reference: ("dense student", dense * 100)).text
    }
}
