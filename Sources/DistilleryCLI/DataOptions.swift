import ArgumentParser
import Datasets
import NeuralNet

/// Which data to read and how much of it.
struct DataOptions: ParsableArguments {
    @Option(help: "Data set: fashion-mnist, idx:PREFIX (MNIST-style IDX files, gzipped or not), npz:FILE (x_train, y_train, x_test, y_test); for gpt: models, shakespeare or text:PATH (a file or folder).")
    var data: String = "fashion-mnist"

    @Option(help: "Use only the first N training samples, or windows of a text (quick runs, tests).")
    var limit: Int?

    @Option(help: "Use only the first N test samples.")
    var testLimit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be positive, got \(testLimit)") }
    }

    /// `context`: a language model's, which cuts a text into windows (--limit and --test-limit then count windows).
    func load(context: Int? = nil) throws -> DataSplit {
        var split = try DataSource(data).load(context: context)
        split.train = split.train.prefix(limit)
        split.test = split.test.prefix(testLimit)
        return split
    }
}
