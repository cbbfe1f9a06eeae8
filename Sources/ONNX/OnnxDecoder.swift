import COnnxProto
import Foundation

/// Reads an ONNX file (a packed ModelProto) with protobuf-c into an `OnnxModelDescription`. Initializers may be
/// raw_data, typed fields or external data files beside the model; every count is checked against the dims.
public enum OnnxDecoder {
    public static func load(_ url: URL) throws -> OnnxModelDescription {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw OnnxError(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        return try decode(bytes, source: url.path, directory: url.deletingLastPathComponent())
    }

    /// `directory` is where external data files are looked for.
    public static func decode(_ bytes: [UInt8], source: String, directory: URL?) throws -> OnnxModelDescription {
        guard let model = bytes.withUnsafeBufferPointer({ onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw OnnxError(file: source, "not an ONNX model (the ModelProto does not parse)")
        }
        defer { onnx__model_proto__free_unpacked(model, nil) }
        let reader = Reader(source: source, directory: directory)
        return try reader.model(model.pointee)
    }

    struct Reader {
        let source: String
        let directory: URL?

        func error(_ message: String) -> OnnxError { OnnxError(file: source, message) }

        func model(_ m: Onnx__ModelProto) throws -> OnnxModelDescription {
            guard let g = m.graph?.pointee else { throw error("the model has no graph") }
            var opset: Int?
            for i in 0..<m.n_opset_import {
                guard let entry = m.opset_import[i]?.pointee else { continue }
                let domain = string(entry.domain)
                if domain == "" || domain == "ai.onnx" { opset = Int(entry.version) }
            }
            guard let opset else { throw error("the model imports no default ('ai.onnx') operator set") }
            var metadata: [String: String] = [:]
            for i in 0..<m.n_metadata_props {
                guard let entry = m.metadata_props[i]?.pointee else { continue }
                metadata[string(entry.key)] = string(entry.value)
            }
            return OnnxModelDescription(opset: opset, graph: try graph(g), producer: string(m.producer_name), metadata: metadata,
                                        irVersion: m.has_ir_version != 0 ? m.ir_version : 0)
        }

        func graph(_ g: Onnx__GraphProto) throws -> OnnxGraph {
            let nodes = try (0..<g.n_node).compactMap { g.node[$0]?.pointee }.enumerated().map { try node($1, index: $0) }
            let initializers = try (0..<g.n_initializer).compactMap { g.initializer[$0]?.pointee }.map { try tensor($0) }
            return OnnxGraph(name: string(g.name), nodes: nodes, initializers: initializers,
                             inputs: (0..<g.n_input).compactMap { g.input[$0]?.pointee }.map(valueInfo),
                             outputs: (0..<g.n_output).compactMap { g.output[$0]?.pointee }.map(valueInfo))
        }

        func node(_ n: Onnx__NodeProto, index: Int) throws -> OnnxNode {
            let op = string(n.op_type)
            let name = string(n.name).isEmpty ? "#\(index)" : string(n.name)
            var attributes: [String: OnnxNode.Attribute] = [:]
            for i in 0..<n.n_attribute {
                guard let a = n.attribute[i]?.pointee else { continue }
                do { attributes[string(a.name)] = try attribute(a) } catch let e as OnnxError {
                    throw error("node '\(name)' (\(op)), attribute '\(string(a.name))': \(e.description)")
                }
            }
            return OnnxNode(name: name, opType: op, domain: string(n.domain),
                            inputs: (0..<n.n_input).map { string(n.input[$0]) },
                            outputs: (0..<n.n_output).map { string(n.output[$0]) }, attributes: attributes)
        }

        func attribute(_ a: Onnx__AttributeProto) throws -> OnnxNode.Attribute {
            var kind = a.has_type != 0 ? Int32(truncatingIfNeeded: a.type.rawValue) : 0
            if kind == 0 {  // writers older than IR 3 set no type: infer it from the field present
                kind = a.has_f != 0 ? 1 : a.has_i != 0 ? 2 : a.has_s != 0 ? 3 : a.t != nil ? 4
                    : a.n_floats > 0 ? 6 : a.n_ints > 0 ? 7 : a.n_strings > 0 ? 8 : 0
            }
            switch kind {
            case 1: return .float(a.f)
            case 2: return .int(a.i)
            case 3: return .string(text(a.s))
            case 4:
                guard let t = a.t?.pointee else { throw OnnxError("a TENSOR attribute without a tensor") }
                return .tensor(try tensor(t))
            case 6: return .floats(Array(UnsafeBufferPointer(start: a.floats, count: a.n_floats)))
            case 7: return .ints(Array(UnsafeBufferPointer(start: a.ints, count: a.n_ints)))
            case 8: return .strings((0..<a.n_strings).map { text(a.strings[$0]) })
            default: return .unsupported(kind: kind)
            }
        }

        func valueInfo(_ v: Onnx__ValueInfoProto) -> OnnxValueInfo {
            guard let type = v.type?.pointee, type.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
                  let tensorType = type.tensor_type?.pointee else {
                return OnnxValueInfo(name: string(v.name), type: nil, dimensions: nil)
            }
            let element = tensorType.has_elem_type != 0 ? OnnxDataType(rawValue: tensorType.elem_type) : nil
            let dims = tensorType.shape.map { shape in
                (0..<shape.pointee.n_dim).map { i -> OnnxValueInfo.Dimension in
                    guard let d = shape.pointee.dim[i]?.pointee else { return .symbolic("?") }
                    switch d.value_case {
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: return .fixed(Int(d.dim_value))
                    case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM: return .symbolic(string(d.dim_param))
                    default: return .symbolic("?")
                    }
                }
            }
            return OnnxValueInfo(name: string(v.name), type: element, dimensions: dims)
        }

        func tensor(_ t: Onnx__TensorProto) throws -> OnnxInitializer {
            let name = string(t.name)
            func fail(_ message: String) -> OnnxError { error("tensor '\(name)': \(message)") }
            guard let type = OnnxDataType(rawValue: t.has_data_type != 0 ? t.data_type : 0), type != .string else {
                throw fail("element type \(t.data_type) is not supported (numeric types only)")
            }
            let dims = Array(UnsafeBufferPointer(start: t.dims, count: t.n_dims))
            guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else { throw fail("invalid dims \(dims)") }
            let shape = dims.map(Int.init)
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 34 else { throw fail("dims \(shape) are too large") }
                count = product
            }
            let raw: [UInt8]?
            if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
                raw = try external(t, name: name)
            } else if t.has_raw_data != 0 {
                raw = Array(UnsafeBufferPointer(start: t.raw_data.data, count: t.raw_data.len))
            } else {
                raw = nil
            }
            let value: OnnxValue
            if let raw {
                let size = type.byteSize
                guard raw.count == count * size else {
                    throw fail("dims \(shape) need \(count * size) bytes of \(type), the data has \(raw.count)")
                }
                value = type.isFloat ? OnnxValue(shape: shape, floats: floats(raw, type, count)) : OnnxValue(shape: shape, ints: ints(raw, type, count))
            } else {
                let typed = typedValues(t, type)
                guard typed.count == count else { throw fail("dims \(shape) need \(count) values, the file has \(typed.count)") }
                value = typed.value(shape)
            }
            return OnnxInitializer(name: name, type: type, value: value)
        }

        /// Values stored in the typed repeated fields (float_data, int32_data, ...).
        private func typedValues(_ t: Onnx__TensorProto, _ type: OnnxDataType) -> (count: Int, value: ([Int]) -> OnnxValue) {
            switch type {
            case .float:
                let v = Array(UnsafeBufferPointer(start: t.float_data, count: t.n_float_data))
                return (v.count, { OnnxValue(shape: $0, floats: v) })
            case .double:
                let v = UnsafeBufferPointer(start: t.double_data, count: t.n_double_data).map(Float.init)
                return (v.count, { OnnxValue(shape: $0, floats: v) })
            case .float16:  // the half-precision bits, one per int32
                let v = UnsafeBufferPointer(start: t.int32_data, count: t.n_int32_data).map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }
                return (v.count, { OnnxValue(shape: $0, floats: v) })
            case .int64:
                let v = Array(UnsafeBufferPointer(start: t.int64_data, count: t.n_int64_data))
                return (v.count, { OnnxValue(shape: $0, ints: v) })
            case .uint32, .uint64:
                let v = UnsafeBufferPointer(start: t.uint64_data, count: t.n_uint64_data).map { Int64(truncatingIfNeeded: $0) }
                return (v.count, { OnnxValue(shape: $0, ints: v) })
            default:
                let v = UnsafeBufferPointer(start: t.int32_data, count: t.n_int32_data).map(Int64.init)
                return (v.count, { OnnxValue(shape: $0, ints: v) })
            }
        }

        private func external(_ t: Onnx__TensorProto, name: String) throws -> [UInt8] {
            var fields: [String: String] = [:]
            for i in 0..<t.n_external_data {
                guard let e = t.external_data[i]?.pointee else { continue }
                fields[string(e.key)] = string(e.value)
            }
            guard let location = fields["location"], !location.isEmpty, !location.hasPrefix("/"),
                  !location.split(separator: "/").contains("..") else {
                throw error("tensor '\(name)': external data needs a relative 'location' inside the model's directory")
            }
            let url = (directory ?? URL(fileURLWithPath: ".")).appendingPathComponent(location)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw error("tensor '\(name)': cannot read its external data file \(url.path)")
            }
            let offset = Int(fields["offset"] ?? "0") ?? -1
            let length = fields["length"].map { Int($0) ?? -1 } ?? (data.count - max(offset, 0))
            // Overflow-checked: an offset near Int.max must be an error, not a trap.
            guard offset >= 0, length >= 0, case let (end, overflow) = offset.addingReportingOverflow(length), !overflow, end <= data.count else {
                throw error("tensor '\(name)': offset \(fields["offset"] ?? "0") and length \(fields["length"] ?? "-") do not fit \(url.path) (\(data.count) bytes)")
            }
            return [UInt8](data[offset..<(offset + length)])
        }

        private func floats(_ raw: [UInt8], _ type: OnnxDataType, _ count: Int) -> [Float] {
            raw.withUnsafeBytes { b in
                (0..<count).map { i in
                    switch type {
                    case .double: Float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
                    case .float16: Float(Float16(bitPattern: UInt16(littleEndian: b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                    default: Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                    }
                }
            }
        }

        private func ints(_ raw: [UInt8], _ type: OnnxDataType, _ count: Int) -> [Int64] {
            raw.withUnsafeBytes { b in
                (0..<count).map { i in
                    switch type {
                    case .int8: Int64(b.load(fromByteOffset: i, as: Int8.self))
                    case .uint8, .bool: Int64(b.load(fromByteOffset: i, as: UInt8.self))
                    case .int16: Int64(Int16(littleEndian: b.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
                    case .uint16: Int64(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                    case .int32: Int64(Int32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                    case .uint32: Int64(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                    default: Int64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                    }
                }
            }
        }

        private func string(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        private func text(_ b: ProtobufCBinaryData) -> String {
            String(decoding: UnsafeBufferPointer(start: b.data, count: b.len), as: UTF8.self)
        }
    }
}

extension OnnxDataType {
    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool, .string: 1
        case .uint16, .int16, .float16: 2
        case .float, .int32, .uint32: 4
        case .int64, .double, .uint64: 8
        }
    }
}
