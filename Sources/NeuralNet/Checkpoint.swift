import Compute
import Foundation
import SafeTensors

/// A model's weights and description in a safetensors file. The metadata (`CheckpointMetadata`) carries the spec,
/// the module tree the tensors build (format 3; format 1 files, from before trees, are built from their spec) and
/// whatever provenance the caller records (data set, normalisation, training run).
public enum Checkpoint {
    public static let formatVersion = "3"
    /// Formats `restore` reads: 1 (spec only) and 3 (spec and tree); 2 is a compressed file (CompressedCheckpoint).
    static let plainFormats: Set<String> = ["1", "3"]
    /// The raw key of the spec in `__metadata__`.
    public static let specKey = CheckpointMetadata.specKey

    public static func save(_ model: Network, metadata: CheckpointMetadata = CheckpointMetadata(), to url: URL) throws {
        var meta = metadata
        meta.spec = model.spec.text
        meta.graph = model.architecture.json
        meta.format = formatVersion
        let entries = model.stateEntries.map { name, p in
            TensorEntry(name: name, shape: p.value.shape, floats: p.value.scalars)
        } + batchCounters(model).map { name, norm in TensorEntry(name: name, int64: norm.batchesTracked) }
        try SafeTensorsFile(metadata: meta.dictionary, tensors: entries).write(to: url)
    }

    /// Loads and checks that every tensor the spec needs is present with its exact shape, and nothing else.
    public static func load(_ url: URL) throws -> (model: Network, metadata: CheckpointMetadata) {
        let file = try SafeTensorsFile.read(url)
        return try restore(file, source: url.path)
    }

    /// Each BatchNorm's `num_batches_tracked`, by its state_dict name.
    static func batchCounters(_ model: Network) -> [(name: String, norm: BatchNorm)] {
        model.namedModules.compactMap { path, layer in (layer as? BatchNorm).map { ("\(path).num_batches_tracked", $0) } }
    }

    /// A weight that is NaN or infinite is a broken file (or a diverged run), never something to compute with.
    public static func requireFinite(_ values: [Float], tensor: String, source: String) throws {
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw SafeTensorsError(source, "tensor '\(tensor)' holds \(values[index]) at index \(index): a checkpoint's values must be finite")
        }
    }

    /// The network a file's metadata describes, weights not yet loaded: built from its stored tree when it has one,
    /// else from its spec.
    public static func network(_ metadata: CheckpointMetadata, source: String) throws -> Network {
        guard let specText = metadata.spec else {
            throw SafeTensorsError(source, "no 'distillery.spec' in __metadata__: not a Distillery checkpoint")
        }
        let spec: ModelSpec
        do { spec = try ModelSpec(specText) } catch { throw SafeTensorsError(source, "invalid model spec in metadata: \(error)") }
        do {
            guard let graph = metadata.graph else { return try Network(spec, seed: 0) }
            return try Network(spec, architecture: try ModuleDescription(json: graph), seed: 0)
        } catch {
            let what = metadata.graph == nil ? "model spec" : "module graph"
            throw SafeTensorsError(source, "invalid \(what) in metadata: \(error)")
        }
    }

    public static func restore(_ file: SafeTensorsFile, source: String) throws -> (model: Network, metadata: CheckpointMetadata) {
        let metadata = CheckpointMetadata(file.metadata)
        if let format = metadata.format, !plainFormats.contains(format) {
            throw SafeTensorsError(source, "checkpoint format '\(format)' is not one this version reads (\(plainFormats.sorted().joined(separator: ", ")); 2 through the compressed loader)")
        }
        let model = try network(metadata, source: source)
        let specText = model.spec.text
        var unused = Set(file.tensors.map(\.name))
        var loadedAs: [ObjectIdentifier: String] = [:]
        for (name, parameter) in model.stateEntries {
            guard let entry = file[name] else {
                throw SafeTensorsError(source, "missing tensor '\(name)' needed by \(specText)")
            }
            guard entry.dtype == .f32, entry.shape == parameter.value.shape, let values = entry.floats() else {
                throw SafeTensorsError(source, "tensor '\(name)' is \(entry.dtype.rawValue) \(entry.shape), the model needs F32 \(parameter.value.shape)")
            }
            try requireFinite(values, tensor: name, source: source)
            if let first = loadedAs[ObjectIdentifier(parameter)] {
                // A shared table (weight tying) is stored under each of its names, as PyTorch's state_dict has it.
                guard parameter.value.scalars == values else {
                    throw SafeTensorsError(source, "tensor '\(name)' shares its values with '\(first)' in \(specText), but the file holds different ones")
                }
            } else {
                parameter.value = Tensor(shape: entry.shape, scalars: values)
                loadedAs[ObjectIdentifier(parameter)] = name
            }
            unused.remove(name)
        }
        // Counters are optional: format 1 files and other writers may lack them.
        for (name, norm) in batchCounters(model) {
            guard let entry = file[name] else { continue }
            guard let count = entry.int64Scalar(), count >= 0 else {
                throw SafeTensorsError(source, "tensor '\(name)' must be one non-negative I64, is \(entry.dtype.rawValue) \(entry.shape)")
            }
            norm.batchesTracked = count
            unused.remove(name)
        }
        guard unused.isEmpty else {
            throw SafeTensorsError(source, "unexpected tensors for \(specText): \(unused.sorted().joined(separator: ", "))")
        }
        return (model, metadata)
    }
}
