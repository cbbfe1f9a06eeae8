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

/// Checks that the model can read the data before any work starts, so a mismatch is an error, not a trap.
func checkCompatible(_ model: Sequential, _ data: LabeledImages, dataName: String) throws {
    let needed = model.inputShape.reduce(1, *)
    guard data.sampleSize == needed, model.inputShape.count == 1 || model.inputShape == data.sampleShape else {
        throw ValidationError("model \(model.spec) takes inputs \(model.inputShape) but \(dataName) has samples \(data.sampleShape)")
    }
    if let top = data.labels.max(), Int(top) >= model.classes {
        throw ValidationError("\(dataName) has label \(top) but model \(model.spec) has only \(model.classes) classes")
    }
}
