import ArgumentParser
import Compression
import Pipeline

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a student by name: magnitude, global-magnitude, obd, lottery, synflow, random or structured.",
        discussion: """
        Methods (Conv2d and Linear weights; biases and BatchNorm stay dense):
        \(PruningMethod.allCases.map { "  \($0.rawValue)\n      \($0.explanation)" }.joined(separator: "\n"))

        OBD estimates on --sample training images; lottery and synflow run
        --rounds (default 5 and 100); lottery rewinds to --rewind init|STEP and
        retrains --finetune-epochs per round. The other methods then fine-tune
        --finetune-epochs with the mask fixed (--gradual: magnitude methods raise
        the sparsity over the fine-tuning): on the distillation loss with the
        job's teachers (--job) or --teacher files, on hard labels without
        teachers. Pruned weights are stored sparse (bitmask + values), so the
        file shrinks with sparsity.

        Example:
          distillery prune --model student.safetensors \\
            --method global-magnitude --sparsity 0.9 --gradual \\
            --job cluster/jobs/fashion-quick.yaml --finetune-epochs 3 \\
            --out student-pruned.safetensors
        """
    )

    @Option(help: "The checkpoint to prune.")
    var model: String

    @Option(help: "magnitude, global-magnitude, obd, lottery, synflow, random or structured.")
    var method: PruningMethod

    @Option(help: "Fraction of prunable weights to remove, 0 ..< 1.")
    var sparsity: Double

    @Option(help: "Rounds: lottery (default 5) and synflow (default 100).")
    var rounds: Int?

    @Option(help: "Lottery tickets: rewind survivors to init or to the weights after STEP optimizer steps.")
    var rewind: String = "init"

    @Flag(help: "magnitude and global-magnitude: raise the sparsity over the first two thirds of the fine-tuning (Zhu and Gupta 2017) instead of at once.")
    var gradual = false

    @Option(help: "Epochs of fine-tuning after pruning (for lottery: of retraining per round).")
    var finetuneEpochs: Int = 2

    @OptionGroup var teacherOptions: TeacherOptions

    @Option(help: "Learning rate of fine-tuning (Adam, cosine decay).")
    var lr: Float = 0.001

    @Option(help: "Images OBD estimates the Hessian diagonal on.")
    var sample: Int = 512

    @Option(help: "Seed for random pruning, sampling and fine-tuning order (default: the checkpoint's).")
    var seed: UInt64?

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Where to write the pruned checkpoint.")
    var out: String

    @Flag(help: "Print the summary as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (0..<1).contains(sparsity) else { throw ValidationError("--sparsity must be in 0 ..< 1, got \(sparsity)") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        guard finetuneEpochs >= 0 else { throw ValidationError("--finetune-epochs must be >= 0") }
        guard sample >= 1 else { throw ValidationError("--sample must be positive") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
        do { _ = try LotteryTicket.Rewind(rewind) } catch { throw ValidationError("--rewind: \(error)") }
        if method == .lottery && finetuneEpochs < 1 { throw ValidationError("lottery retrains each round: give --finetune-epochs >= 1") }
    }

    func run() throws {
        compute.apply()
        StopSignal.install()
        let inputs = try CompressionInputs(model: model, teachers: teacherOptions, data: dataOptions, control: Terminal.control(tablesOnStdout: !json))
        var pruning = FilePruning(method: method, sparsity: sparsity)
        pruning.rounds = rounds
        pruning.rewind = try LotteryTicket.Rewind(rewind)
        pruning.gradual = gradual
        pruning.finetuneEpochs = finetuneEpochs
        pruning.learningRate = lr
        pruning.sample = sample
        pruning.seed = seed
        pruning.teachers = teacherOptions.fineTuningTeachers
        let summary = try pruning.run(inputs, model: model, out: out)
        if json { try Terminal.printJSON(summary) } else {
            Terminal.line("\(out): \(method.rawValue) at \(formatted(summary.sparsity * 100, 2)) % sparsity; accuracy dense \(formatted(summary.denseAccuracy * 100, 2)) %"
                + (summary.prunedAccuracy.map { ", pruned \(formatted($0 * 100, 2)) %" } ?? "")
                + ", final \(formatted(summary.finalAccuracy * 100, 2)) %; \(summary.bytesIn) -> \(summary.bytesOut) bytes")
        }
        try inputs.control.checkStop()
    }
}

extension PruningMethod: ExpressibleByArgument {}
