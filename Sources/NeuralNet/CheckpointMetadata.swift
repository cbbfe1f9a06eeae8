import Foundation

/// What a checkpoint's `__metadata__` says besides its tensors, one field per `distillery.*` key: the model, how its
/// file stores it, and how it was made. Every writer and reader goes through this type; keys it does not know (a
/// newer writer's) are kept as they were read and written back.
public struct CheckpointMetadata: Equatable, Sendable {
    /// The model spec (`distillery.spec`).
    public var spec: String?
    /// The file format's version (`distillery.format`: 1 plain chain, 2 compressed, 3 plain with its module tree).
    public var format: String?
    /// The module tree the tensors build, as JSON (`distillery.graph`, format 3 and compressed files of trees).
    public var graph: String?
    /// Compressed files: `f32`, `int8-per-channel`, `int8-per-tensor` (`distillery.weights`) and `dense` or `bitmask`.
    public var weights: String?
    public var storage: String?

    // How the model was made.
    public var data: String?
    /// The input normalisation it was trained with (`MEAN,STD` per channel).
    public var normalize: String?
    public var epochs: Int?
    public var seed: UInt64?
    public var batchSize: Int?
    public var optimizer: String?
    public var learningRate: Double?
    public var schedule: String?
    /// `translate=N,flip=BOOL`.
    public var augment: String?
    public var job: String?
    public var teachers: [String]?
    public var temperature: Double?
    public var alpha: Double?
    public var combine: String?
    public var replicas: Int?
    public var created: String?
    public var testAccuracy: Double?
    /// Compression stages: what they did, in words (`global-magnitude sparsity=0.9`), and the sparsity reached.
    public var pruning: String?
    public var sparsity: Double?
    public var quantization: String?
    /// ONNX exports: the file exported and what the graph's input expects.
    public var source: String?
    public var input: String?
    /// Keys this version does not know (and keys of other writers), kept as read.
    public var unknown: [String: String] = [:]

    public init() {}

    /// The fields a derived model (pruned, quantized, exported) keeps from its source: its provenance, not how the
    /// source's file stored it.
    public var provenance: CheckpointMetadata {
        var copy = self
        copy.spec = nil; copy.format = nil; copy.graph = nil; copy.weights = nil; copy.storage = nil
        copy.unknown = unknown.filter { $0.key.hasPrefix(Self.prefix) }
        return copy
    }

    public init(_ dictionary: [String: String]) {
        var rest = dictionary
        func take(_ key: String) -> String? { rest.removeValue(forKey: Self.prefix + key) }
        spec = take("spec"); format = take("format"); graph = take("graph"); weights = take("weights"); storage = take("storage")
        data = take("data"); normalize = take("normalize")
        epochs = take("epochs").flatMap { Int($0) }
        seed = take("seed").flatMap { UInt64($0) }
        batchSize = take("batch_size").flatMap { Int($0) }
        optimizer = take("optimizer")
        learningRate = take("lr").flatMap { Double($0) }
        schedule = take("schedule"); augment = take("augment"); job = take("job")
        teachers = take("teachers").map { $0.split(separator: ",").map(String.init) }
        temperature = take("temperature").flatMap { Double($0) }
        alpha = take("alpha").flatMap { Double($0) }
        combine = take("combine")
        replicas = take("replicas").flatMap { Int($0) }
        created = take("created")
        testAccuracy = take("test_accuracy").flatMap { Double($0) }
        pruning = take("pruning")
        sparsity = take("sparsity").flatMap { Double($0) }
        quantization = take("quantization"); source = take("source"); input = take("input")
        unknown = rest
    }

    /// The `__metadata__` entries (ours prefixed `distillery.`).
    public var dictionary: [String: String] {
        var out = unknown
        func put(_ key: String, _ value: String?) { if let value { out[Self.prefix + key] = value } }
        put("spec", spec); put("format", format); put("graph", graph); put("weights", weights); put("storage", storage)
        put("data", data); put("normalize", normalize); put("epochs", epochs.map(String.init))
        put("seed", seed.map(String.init)); put("batch_size", batchSize.map(String.init)); put("optimizer", optimizer)
        put("lr", learningRate.map { "\($0)" }); put("schedule", schedule); put("augment", augment); put("job", job)
        put("teachers", teachers?.joined(separator: ",")); put("temperature", temperature.map { "\($0)" })
        put("alpha", alpha.map { "\($0)" }); put("combine", combine); put("replicas", replicas.map(String.init))
        put("created", created); put("test_accuracy", testAccuracy.map { "\($0)" })
        put("pruning", pruning); put("sparsity", sparsity.map { "\($0)" }); put("quantization", quantization)
        put("source", source); put("input", input)
        return out
    }

    /// An entry by its raw key, as the file stores it (for tools and tests that speak the file's keys).
    public subscript(key: String) -> String? {
        get { dictionary[key] }
        set {
            var raw = dictionary
            raw[key] = newValue
            self = CheckpointMetadata(raw)
        }
    }

    static let prefix = "distillery."
    /// The raw key of the spec, for tools that list a file's metadata as stored.
    public static let specKey = prefix + "spec"
}

extension CheckpointMetadata: ExpressibleByDictionaryLiteral {
    /// Entries by raw key, e.g. `["distillery.data": "synthetic"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}
