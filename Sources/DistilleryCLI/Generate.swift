import ArgumentParser
import Foundation
import Pipeline

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a byte-level language model (gpt:) and print the text.",
        discussion: """
        Samples one byte at a time from the model's scores at the last position
        (divided by --temperature; --top-k keeps only the k likeliest bytes);
        --temperature 0 always takes the likeliest. The same --seed gives the
        same text. Bytes that do not form UTF-8 print as U+FFFD.

        Example:
          distillery generate --model gpt.safetensors --prompt "ROMEO." --tokens 200
        """
    )

    @Option(help: "Checkpoint of a gpt: model (dense, pruned or int8).")
    var model: String

    @Option(help: "The text to continue.")
    var prompt: String = ""

    @Option(help: "Bytes to generate.")
    var tokens: Int = 200

    @Option(help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0.8

    @Option(help: "Sample among the k likeliest bytes (0: all).")
    var topK: Int = 0

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 1

    @Flag(help: "Print {\"prompt\", \"text\", \"tokens\"} as JSON.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard tokens >= 0 else { throw ValidationError("--tokens must be 0 or more, got \(tokens)") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more, got \(temperature)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, got \(topK)") }
    }

    func run() throws {
        compute.apply()
        let generation = TextGeneration(tokens: tokens, temperature: temperature, topK: topK, seed: seed)
        let text = String(decoding: try generation.run(model: model, prompt: prompt), as: UTF8.self)
        if json {
            struct Output: Encodable { var prompt: String, text: String, tokens: Int }
            try Terminal.printJSON(Output(prompt: prompt, text: text, tokens: tokens))
        } else {
            Terminal.line(text)
        }
    }
}
