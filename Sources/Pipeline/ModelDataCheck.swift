import Datasets
import NeuralNet

/// Checks that the model can read the data before any work starts, so a mismatch is an error, not a trap.
/// The model reads the data's samples, and every label of both splits names one of its classes.
public func checkCompatible(_ model: Network, _ split: DataSplit) throws {
    let data = split.train
    let needed = model.inputShape.reduce(1, *)
    guard data.sampleSize == needed, model.inputShape.count == 1 || model.inputShape == data.sampleShape else {
        throw PipelineError.unsuitableInput("model \(model.spec) takes inputs \(model.inputShape) but \(split.name) has samples \(data.sampleShape)")
    }
    for (part, images) in [("training", split.train), ("test", split.test)] {
        if let index = images.labels.firstIndex(where: { Int($0) >= model.classes }) {
            throw PipelineError.unsuitableInput("\(split.name): \(part) sample \(index) has label \(images.labels[index]), but model \(model.spec) has only \(model.classes) classes (0...\(model.classes - 1))")
        }
    }
}
