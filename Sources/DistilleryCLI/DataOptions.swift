import ArgumentParser
import Datasets
import NeuralNet

/// Which data to read and how much of it.
struct DataOptions: ParsableArguments {
    @Option(help: "Data set: fashion-mnist, idx:PREFIX (MNIST-style IDX files, gzipped or not) or npz:FILE (x_train, y_train, x_test, y_test).")
    var data: String = "fashion-mnist"

    @Option(help: "Use only the first N training samples (quick runs, tests).")
    var limit: Int?

    @Option(help: "Use only the first N test samples.")
    var testLimit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be positive, got \(testLimit)") }
    }

    func load() throws -> DataSplit {
        var split = try DataSource(data).load()
        split.train = split.train.prefix(limit)
        split.test = split.test.prefix(testLimit)
        return split
    }
}
