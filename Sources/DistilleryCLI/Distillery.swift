import ArgumentParser
import Foundation
import Pipeline

@main
struct Distillery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distillery",
        abstract: "Distributed knowledge distillation, pruning and quantization.",
        discussion: """
        Train a model, evaluate it, look inside:
          distillery train --model mlp:784-1200-1200-10 --data fashion-mnist \\
            --epochs 10 --out mlp.safetensors
          distillery eval --model mlp.safetensors --data fashion-mnist
          distillery inspect mlp.safetensors
          distillery bench train --model mlp:784-1200-1200-10 --batch-size 128

        Compress:
          distillery prune --model S.safetensors --method global-magnitude \\
            --sparsity 0.9 --out P.safetensors
          distillery quantize --model P.safetensors --per-channel --out Q.safetensors
          distillery bench infer --model S.safetensors --model Q.safetensors
          distillery report --job JOB.yaml    (every pruning method, with a plot)

        Distil on a cluster, all daemons on this machine:
          distillery run cluster/jobs/fashion-quick.yaml
        or by hand, one daemon per command:
          distillery coordinator --job JOB.yaml --bind tcp://0.0.0.0:5555
          distillery teacher --coordinator tcp://HOST:5555 --keys DIR
          distillery student --coordinator tcp://HOST:5555 --keys DIR \\
            --bind 'tcp://0.0.0.0:*' --advertise MYHOST
          distillery status --coordinator tcp://HOST:5555 --watch 2

        Language models on text:
          distillery train --model gpt:vocab=256,ctx=64,layers=2,heads=4,d=64 \\
            --data shakespeare --epochs 1 --out gpt.safetensors
          distillery generate --model gpt.safetensors --prompt "ROMEO." --tokens 200

        Data sets: fashion-mnist (Debian's dataset-fashion-mnist), idx:PREFIX,
        npz:FILE; for gpt: models shakespeare, text:PATH. Models:
        mlp:784-1200-1200-10, lenet5, cnn-small, cnn:1x28x28:c32bn-p-c64bn-p-f128-10,
        resnet:1x28x28:depth=20,width=16, mobilenetv2:1x28x28:width=16,
        gpt:vocab=256,ctx=128,layers=4,heads=4,d=192.
        """,
        subcommands: [Train.self, Distill.self, Run.self, CoordinatorCommand.self, TeacherCommand.self, StudentCommand.self, SlurmCommand.self, Status.self, Prune.self, Quantize.self, Report.self, Export.self, Eval.self, Generate.self, Inspect.self, Keygen.self, Bench.self]
    )

    /// Parses and runs the command; a pipeline's own error becomes its exit code (130 for a stop, 1 for a failure)
    /// with its message, never the usage text that ArgumentParser prints for a bad command line.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as PipelineError {
            FileHandle.standardError.write(Data("\(error == .stopped ? "" : "Error: ")\(error)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}

/// Compute settings shared by every command that runs a model.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Compute threads (default: DISTILLERY_THREADS, else every core). Processes sharing a machine should split the cores.")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func apply() {
        ComputeSetup.apply(threads: threads)
    }
}
