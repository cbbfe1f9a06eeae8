import Compute
import Foundation
import NeuralNet
import SafeTensors

/// Pruned and quantized students in safetensors (format 2). Metadata:
/// - `distillery.format` "2"; `distillery.spec` the network the tensors build (BatchNorm folded when quantized);
/// - `distillery.weights` "f32", "int8-per-channel" or "int8-per-tensor";
/// - `distillery.storage` "dense" or "bitmask".
/// For each Conv2d/Linear weight NAME (e.g. "0.weight"):
/// - bitmask storage: `NAME.mask` U8, one bit per element in row-major order, least significant bit first, then
///   only the kept elements: `NAME.values` F32, or `NAME.q` I8;
/// - dense: `NAME` F32, or `NAME.q` I8 with every element;
/// - int8: `NAME.scale` F32, one per output channel or one for the tensor (w = q * scale);
/// - int8: the layer's input grid as `PATH.input_quant` F32 [scale, zero point] (uint8 = round(x / scale) + zero),
///   PATH the module's ("3" in a chain, "layer1.0.conv1" in a tree);
/// - int8 trees: each quantization point's grid as `KEY.output_quant` F32 [scale, zero point], KEY a Conv2d's path or
///   a graph's add ("layer1.0.sum"); files without them run with float between the integer layers.
/// Biases and BatchNorm tensors are F32 under their usual names.
public enum CompressedCheckpoint {
    public static let formatVersion = "2"

    public enum Weights: String, Sendable { case f32, int8PerChannel = "int8-per-channel", int8PerTensor = "int8-per-tensor" }

    /// What a file holds: the float network (dequantized when int8), and the int8 model when there is one.
    public struct Contents {
        public var model: Network
        public var quantized: QuantizedModel?
        public var metadata: CheckpointMetadata
        public var masks: PruningMasks { PruningMasks.nonzero(model) }
    }

    /// Writes `model` (its zeros are the pruned weights) with sparse storage when `sparse`.
    public static func save(_ model: Network, sparse: Bool, metadata: CheckpointMetadata, to url: URL) throws {
        var meta = metadata
        meta.spec = model.spec.text
        meta.graph = model.architecture == model.spec.architecture ? nil : model.architecture.json
        meta.format = formatVersion
        meta.weights = Weights.f32.rawValue
        meta.storage = sparse ? "bitmask" : "dense"
        let prunable = Set(PruningMasks.prunable(model).map(\.name))
        var entries: [TensorEntry] = []
        for (name, parameter) in model.namedParameters {
            let values = parameter.value.scalars
            if sparse && prunable.contains(name) {
                let keep = values.map { $0 != 0 }
                entries.append(maskEntry(name, keep))
                entries.append(TensorEntry(name: "\(name).values", shape: [keep.lazy.filter { $0 }.count], floats: values.filter { $0 != 0 }))
            } else {
                entries.append(TensorEntry(name: name, shape: parameter.value.shape, floats: values))
            }
        }
        try SafeTensorsFile(metadata: meta.dictionary, tensors: entries).write(to: url)
    }

    public static func save(_ quantized: QuantizedModel, sparse: Bool, metadata: CheckpointMetadata, to url: URL) throws {
        var meta = metadata
        let model = quantized.float
        meta.spec = model.spec.text
        meta.graph = model.architecture == model.spec.architecture ? nil : model.architecture.json
        meta.format = formatVersion
        meta.weights = (quantized.perChannel ? Weights.int8PerChannel : Weights.int8PerTensor).rawValue
        meta.storage = sparse ? "bitmask" : "dense"
        let layers = Dictionary(uniqueKeysWithValues: quantized.layers.map { ("\($0.path).weight", $0) })
        var entries: [TensorEntry] = []
        for (name, parameter) in model.namedParameters {
            guard let layer = layers[name] else {
                entries.append(TensorEntry(name: name, shape: parameter.value.shape, floats: parameter.value.scalars))
                continue
            }
            let q = layer.weights.values
            if sparse {
                let keep = q.map { $0 != 0 }
                entries.append(maskEntry(name, keep))
                let kept = q.filter { $0 != 0 }
                entries.append(TensorEntry(name: "\(name).q", dtype: .i8, shape: [kept.count], bytes: kept.map { UInt8(bitPattern: $0) }))
            } else {
                entries.append(TensorEntry(name: "\(name).q", dtype: .i8, shape: layer.weights.shape, bytes: q.map { UInt8(bitPattern: $0) }))
            }
            entries.append(TensorEntry(name: "\(name).scale", shape: [layer.weights.scales.count], floats: layer.weights.scales))
            entries.append(TensorEntry(name: "\(layer.path).input_quant", shape: [2], floats: [layer.input.scale, Float(layer.input.zero)]))
        }
        for (key, grid) in quantized.points.sorted(by: { $0.key < $1.key }) {
            entries.append(TensorEntry(name: "\(key).\(pointSuffix)", shape: [2], floats: [grid.scale, Float(grid.zero)]))
        }
        try SafeTensorsFile(metadata: meta.dictionary, tensors: entries).write(to: url)
    }

    /// Loads format 1 (plain checkpoints) and format 2; every inconsistency is an error naming the file and tensor.
    public static func load(_ url: URL) throws -> Contents {
        let file = try SafeTensorsFile.read(url)
        let source = url.path
        let metadata = CheckpointMetadata(file.metadata)
        guard metadata.format == formatVersion else {
            let (model, metadata) = try Checkpoint.restore(file, source: source)
            return Contents(model: model, quantized: nil, metadata: metadata)
        }
        guard let specText = metadata.spec, (try? ModelSpec(specText)) != nil else {
            throw SafeTensorsError(source, "missing or invalid 'distillery.spec' in __metadata__")
        }
        guard let weights = Weights(rawValue: metadata.weights ?? "") else {
            throw SafeTensorsError(source, "distillery.weights must be f32, int8-per-channel or int8-per-tensor")
        }
        let model = try Checkpoint.network(metadata, source: source)
        let prunable = Set(PruningMasks.prunable(model).map(\.name))
        var used = Set<String>()
        func entry(_ name: String, _ dtype: DType) throws -> TensorEntry {
            guard let e = file[name] else { throw SafeTensorsError(source, "missing tensor '\(name)' needed by \(specText)") }
            guard e.dtype == dtype else { throw SafeTensorsError(source, "tensor '\(name)' is \(e.dtype.rawValue), expected \(dtype.rawValue)") }
            used.insert(name)
            return e
        }
        var layers: [QuantizedModel.Layer] = []
        for (name, parameter) in model.namedParameters {
            let count = parameter.value.count, shape = parameter.value.shape
            let mask: [Bool]? = file["\(name).mask"] == nil ? nil : try unpackMask(entry("\(name).mask", .u8), count: count, source: source)
            if prunable.contains(name), weights != .f32 {
                let qEntry = try entry("\(name).q", .i8)
                // Dense int8 keeps the weight's shape; under a mask, one value per kept weight.
                guard mask != nil || qEntry.shape == shape else {
                    throw SafeTensorsError(source, "tensor '\(name).q' is \(qEntry.shape), the model needs \(shape)")
                }
                let stored = qEntry.bytes.map { Int8(bitPattern: $0) }
                let q = try scatter(stored, mask: mask, count: count, zero: Int8(0), name: name, source: source)
                let scales = try entry("\(name).scale", .f32).floats()!
                guard scales.count == 1 || scales.count == shape[0], scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                    throw SafeTensorsError(source, "tensor '\(name).scale' needs 1 or \(shape[0]) positive scales, has \(scales.count)")
                }
                let path = String(name.dropLast(".weight".count))
                let grid = try self.grid(entry("\(path).input_quant", .f32), source: source)
                // The bias is read with the layer's other tensors below and joins the layer after the loop.
                layers.append(QuantizedModel.Layer(path: path, weights: QuantizedWeights(values: q, scales: scales, shape: shape),
                                                   bias: [], input: grid))
            } else if mask != nil {
                let values = try entry("\(name).values", .f32).floats()!
                try Checkpoint.requireFinite(values, tensor: "\(name).values", source: source)
                parameter.value = Tensor(shape: shape, scalars: try scatter(values, mask: mask, count: count, zero: Float(0), name: name, source: source))
            } else {
                let e = try entry(name, .f32)
                guard e.shape == shape else { throw SafeTensorsError(source, "tensor '\(name)' is \(e.shape), the model needs \(shape)") }
                let values = e.floats()!
                try Checkpoint.requireFinite(values, tensor: name, source: source)
                parameter.value = Tensor(shape: shape, scalars: values)
            }
        }
        var points: [String: ActivationQuantization] = [:]
        if weights != .f32 {
            let keys = QuantizationPoints.possibleKeys(model)
            for tensor in file.tensors where tensor.name.hasSuffix(".\(pointSuffix)") {
                let key = String(tensor.name.dropLast(pointSuffix.count + 1))
                guard keys.contains(key) else {
                    throw SafeTensorsError(source, "tensor '\(tensor.name)': '\(key)' is neither a Conv2d nor a residual add of \(specText)")
                }
                points[key] = try grid(entry(tensor.name, .f32), source: source)
            }
        }
        let unused = Set(file.tensors.map(\.name)).subtracting(used)
        guard unused.isEmpty else { throw SafeTensorsError(source, "unexpected tensors: \(unused.sorted().joined(separator: ", "))") }
        guard weights != .f32 else { return Contents(model: model, quantized: nil, metadata: metadata) }
        let modules = Dictionary(model.namedModules.map { ($0.path, $0.layer) }, uniquingKeysWith: { a, _ in a })
        for i in layers.indices { layers[i].bias = gemmParameters(modules[layers[i].path]!)!.bias.value.scalars }
        var quantized = QuantizedModel(float: model, layers: layers, perChannel: weights == .int8PerChannel, points: points)
        quantized.writeDequantizedWeights()
        return Contents(model: model, quantized: quantized, metadata: metadata)
    }

    private static let pointSuffix = "output_quant"

    /// [scale, zero point] of a uint8 grid.
    private static func grid(_ entry: TensorEntry, source: String) throws -> ActivationQuantization {
        let grid = entry.floats() ?? []
        guard grid.count == 2, grid[0] > 0, grid[0].isFinite, (0...255).contains(grid[1]), grid[1] == grid[1].rounded() else {
            throw SafeTensorsError(source, "tensor '\(entry.name)' must be [scale > 0, zero point in 0...255]")
        }
        return ActivationQuantization(scale: grid[0], zero: UInt8(grid[1]))
    }

    private static func maskEntry(_ name: String, _ keep: [Bool]) -> TensorEntry {
        var bits = [UInt8](repeating: 0, count: (keep.count + 7) / 8)
        for (i, k) in keep.enumerated() where k { bits[i / 8] |= 1 << UInt8(i % 8) }
        return TensorEntry(name: "\(name).mask", dtype: .u8, shape: [bits.count], bytes: bits)
    }

    private static func unpackMask(_ entry: TensorEntry, count: Int, source: String) throws -> [Bool] {
        guard entry.bytes.count == (count + 7) / 8 else {
            throw SafeTensorsError(source, "tensor '\(entry.name)' has \(entry.bytes.count) bytes, \(count) weights need \((count + 7) / 8)")
        }
        return (0..<count).map { entry.bytes[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
    }

    private static func scatter<T>(_ values: [T], mask: [Bool]?, count: Int, zero: T, name: String, source: String) throws -> [T] {
        guard let mask else {
            guard values.count == count else { throw SafeTensorsError(source, "tensor '\(name)' has \(values.count) values, needs \(count)") }
            return values
        }
        let kept = mask.lazy.filter { $0 }.count
        guard values.count == kept else {
            throw SafeTensorsError(source, "tensor '\(name)': the mask keeps \(kept) weights but \(values.count) values are stored")
        }
        var out = [T](repeating: zero, count: count)
        var next = 0
        for i in 0..<count where mask[i] { out[i] = values[next]; next += 1 }
        return out
    }
}

extension CompressedCheckpoint.Contents {
    /// Logits for normalised images: on the int8 runtime when the file is quantized, in float otherwise.
    public func inference() throws -> (Tensor) -> Tensor {
        if let quantized { return try quantized.runtime() }
        let model = model
        return { model.forward($0, training: false) }
    }

    /// The weights' storage, as the metadata names it ("f32 dense" for a plain checkpoint).
    public var format: String {
        "\(metadata.weights ?? "f32") \(metadata.storage ?? "dense")"
    }
}
