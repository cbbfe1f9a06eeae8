import ArgumentParser
import Datasets
import Foundation
import NeuralNet
import Pipeline
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on hard labels and save it as a safetensors checkpoint.",
        discussion: """
        Prints one line per epoch (loss, accuracy, samples/s) and, on a terminal, a
        live progress bar. SIGINT/SIGTERM stop after the current step and save what
        was trained so far (exit status 130).

        Example:
          distillery train --model mlp:784-1200-1200-10 --data fashion-mnist \\
            --epochs 10 --batch-size 128 --optimizer adam --lr 0.001 --seed 1 \\
            --out mlp.safetensors
        """
    )

    @Option(help: "Model spec, e.g. mlp:784-1200-1200-10, cnn:1x28x28:c32bn-p-c64bn-p-f128-10, lenet5, cnn-small, resnet:1x28x28:depth=20,width=16, mobilenetv2:1x28x28:width=16,expansion=6,blocks=2 (README, Models).")
    var model: String

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var training: TrainingOptions

    @Option(help: "Input normalisation: none, auto (fit to the training set) or MEAN,STD (per channel: M1/M2/M3,S1/S2/S3).")
    var normalize: String = "none"

    @Option(help: "Where to write the checkpoint (.safetensors).")
    var out: String

    @Flag(help: "Print the final report as JSON on stdout.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        _ = try ModelSpec(model)
    }

    func run() throws {
        compute.apply()
        StopSignal.install()
        let network = try Network(try ModelSpec(model), seed: training.seed)
        let split = try dataOptions.load(context: network.spec.isLanguageModel ? network.inputShape[0] : nil)
        try checkCompatible(network, split)
        if split.train.images.elementType == .int32 && normalize != "none" {
            throw ValidationError("--normalize applies to images; \(split.name) is text")
        }
        let normalization = try Normalization.setting(normalize, fittingTo: split.train)
        if !json {
            Terminal.status("training \(network.spec) (\(network.parameterCount) parameters) on \(split.name): \(split.train.count) train, \(split.test.count) test samples")
        }
        let run = TrainingRun(epochs: training.epochs, json: json)
        let reports = Trainer(model: network, config: try training.config(), normalization: normalization)
            .fit(split.train, test: split.test, shouldStop: { StopSignal.isRequested }, onStep: run.onStep, onEpoch: run.onEpoch)
        var metadata = training.provenance(dataName: split.name, epochsDone: reports.count)
        metadata.normalize = normalization?.text
        try run.finish(network, metadata: metadata, reports: reports, out: out)
    }
}
