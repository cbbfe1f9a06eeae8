import Compute
import Foundation
import SafeTensors

/// A model's weights and description in a safetensors file. The metadata (`CheckpointMetadata`) carries the spec
/// plus whatever provenance the caller records (data set, normalisation, training run).
public enum Checkpoint {
    public static let formatVersion = "1"
    /// The raw key of the spec in `__metadata__`.
    public static let specKey = CheckpointMetadata.specKey

    public static func save(_ model: Sequential, metadata: CheckpointMetadata = CheckpointMetadata(), to url: URL) throws {
        var meta = metadata
        meta.spec = model.spec.text
        meta.format = formatVersion
        let entries = model.namedParameters.map { name, p in
            TensorEntry(name: name, shape: p.value.shape, floats: p.value.scalars)
        }
        try SafeTensorsFile(metadata: meta.dictionary, tensors: entries).write(to: url)
    }

    /// Loads and checks that every tensor the spec needs is present with its exact shape, and nothing else.
    public static func load(_ url: URL) throws -> (model: Sequential, metadata: CheckpointMetadata) {
        let file = try SafeTensorsFile.read(url)
        return try restore(file, source: url.path)
    }

    /// A weight that is NaN or infinite is a broken file (or a diverged run), never something to compute with.
    public static func requireFinite(_ values: [Float], tensor: String, source: String) throws {
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw SafeTensorsError(source, "tensor '\(tensor)' holds \(values[index]) at index \(index): a checkpoint's values must be finite")
        }
    }

    public static func restore(_ file: SafeTensorsFile, source: String) throws -> (model: Sequential, metadata: CheckpointMetadata) {
        let metadata = CheckpointMetadata(file.metadata)
        guard let specText = metadata.spec else {
            throw SafeTensorsError(source, "no 'distillery.spec' in __metadata__: not a Distillery checkpoint")
        }
        let model: Sequential
        do {
            model = try Sequential(try ModelSpec(specText), seed: 0)
        } catch {
            throw SafeTensorsError(source, "invalid model spec in metadata: \(error)")
        }
        var unused = Set(file.tensors.map(\.name))
        for (name, parameter) in model.namedParameters {
            guard let entry = file[name] else {
                throw SafeTensorsError(source, "missing tensor '\(name)' needed by \(specText)")
            }
            guard entry.dtype == .f32, entry.shape == parameter.value.shape, let values = entry.floats() else {
                throw SafeTensorsError(source, "tensor '\(name)' is \(entry.dtype.rawValue) \(entry.shape), the model needs F32 \(parameter.value.shape)")
            }
            try requireFinite(values, tensor: name, source: source)
            parameter.value = Tensor(shape: entry.shape, scalars: values)
            unused.remove(name)
        }
        guard unused.isEmpty else {
            throw SafeTensorsError(source, "unexpected tensors for \(specText): \(unused.sorted().joined(separator: ", "))")
        }
        return (model, metadata)
    }
}
