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
/// The model reads the data's samples, and every label of both splits names one of its classes.
func checkCompatible(_ model: Sequential, _ split: DataSplit) throws {
    let data = split.train
    let needed = model.inputShape.reduce(1, *)
    guard data.sampleSize == needed, model.inputShape.count == 1 || model.inputShape == data.sampleShape else {
        throw ValidationError("model \(model.spec) takes inputs \(model.inputShape) but \(split.name) has samples \(data.sampleShape)")
    }
    for (part, images) in [("training", split.train), ("test", split.test)] {
        if let index = images.labels.firstIndex(where: { Int($0) >= model.classes }) {
            throw ValidationError("\(split.name): \(part) sample \(index) has label \(images.labels[index]), but model \(model.spec) has only \(model.classes) classes (0...\(model.classes - 1))")
        }
    }
}
