import COnnxProto
import Foundation
import ProtobufSupport
import SafeTensors

/// Writes an `OnnxModelDescription` as a packed ModelProto with protobuf-c; initializers go in raw_data in their
/// declared element type.
public enum OnnxEncoder {
    public static func encode(_ model: OnnxModelDescription) -> [UInt8] {
        let arena = CArena()
        var m = Onnx__ModelProto()
        onnx__model_proto__init(&m)
        m.has_ir_version = 1
        m.ir_version = model.irVersion
        m.producer_name = arena.string(model.producer)
        var opset = Onnx__OperatorSetIdProto()
        onnx__operator_set_id_proto__init(&opset)
        opset.domain = arena.string("")
        opset.has_version = 1
        opset.version = Int64(model.opset)
        m.n_opset_import = 1
        m.opset_import = arena.array([Optional(arena.new(opset))])
        let entries = model.metadata.sorted { $0.key < $1.key }.map { Optional(arena.new(entry($0.key, $0.value, arena))) }
        m.n_metadata_props = entries.count
        m.metadata_props = arena.array(entries)
        m.graph = arena.new(graph(model.graph, arena))
        let size = withUnsafePointer(to: &m) { onnx__model_proto__get_packed_size($0) }
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBufferPointer { buffer in
            withUnsafePointer(to: &m) { _ = onnx__model_proto__pack($0, buffer.baseAddress) }
        }
        return out
    }

    /// Written atomically: a reader never sees half a model.
    public static func write(_ model: OnnxModelDescription, to url: URL) throws {
        try AtomicFile.write(encode(model), to: url)
    }

    private static func entry(_ key: String, _ value: String, _ arena: CArena) -> Onnx__StringStringEntryProto {
        var e = Onnx__StringStringEntryProto()
        onnx__string_string_entry_proto__init(&e)
        e.key = arena.string(key)
        e.value = arena.string(value)
        return e
    }

    private static func graph(_ g: OnnxGraph, _ arena: CArena) -> Onnx__GraphProto {
        var p = Onnx__GraphProto()
        onnx__graph_proto__init(&p)
        p.name = arena.string(g.name)
        p.n_node = g.nodes.count
        p.node = arena.array(g.nodes.map { Optional(arena.new(node($0, arena))) })
        p.n_initializer = g.initializers.count
        p.initializer = arena.array(g.initializers.map { Optional(arena.new(tensor($0, arena))) })
        p.n_input = g.inputs.count
        p.input = arena.array(g.inputs.map { Optional(arena.new(valueInfo($0, arena))) })
        p.n_output = g.outputs.count
        p.output = arena.array(g.outputs.map { Optional(arena.new(valueInfo($0, arena))) })
        return p
    }

    private static func node(_ n: OnnxNode, _ arena: CArena) -> Onnx__NodeProto {
        var p = Onnx__NodeProto()
        onnx__node_proto__init(&p)
        p.name = arena.string(n.name)
        p.op_type = arena.string(n.opType)
        p.domain = arena.string(n.domain)
        p.n_input = n.inputs.count
        p.input = arena.strings(n.inputs)
        p.n_output = n.outputs.count
        p.output = arena.strings(n.outputs)
        let attributes = n.attributes.sorted { $0.key < $1.key }.compactMap { name, value in attribute(name, value, arena).map { Optional(arena.new($0)) } }
        p.n_attribute = attributes.count
        p.attribute = arena.array(attributes)
        return p
    }

    private static func attribute(_ name: String, _ value: OnnxNode.Attribute, _ arena: CArena) -> Onnx__AttributeProto? {
        var a = Onnx__AttributeProto()
        onnx__attribute_proto__init(&a)
        a.name = arena.string(name)
        a.has_type = 1
        switch value {
        case let .float(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT; a.has_f = 1; a.f = v
        case let .int(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT; a.has_i = 1; a.i = v
        case let .string(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING; a.has_s = 1; a.s = binary(Array(v.utf8), arena)
        case let .tensor(t):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR; a.t = arena.new(tensor(t, arena))
        case let .floats(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS; a.n_floats = v.count; a.floats = arena.array(v)
        case let .ints(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS; a.n_ints = v.count; a.ints = arena.array(v)
        case let .strings(v):
            a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS; a.n_strings = v.count
            a.strings = arena.array(v.map { binary(Array($0.utf8), arena) })
        case .unsupported:
            return nil
        }
        return a
    }

    private static func tensor(_ t: OnnxInitializer, _ arena: CArena) -> Onnx__TensorProto {
        var p = Onnx__TensorProto()
        onnx__tensor_proto__init(&p)
        p.name = arena.string(t.name)
        p.n_dims = t.value.shape.count
        p.dims = arena.array(t.value.shape.map(Int64.init))
        p.has_data_type = 1
        p.data_type = t.type.rawValue
        p.has_raw_data = 1
        p.raw_data = binary(rawBytes(t), arena)
        return p
    }

    /// Little-endian bytes of the values in the initializer's element type.
    static func rawBytes(_ t: OnnxInitializer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(t.value.count * t.type.byteSize)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        switch t.value.storage {
        case let .float(values):
            for v in values {
                switch t.type {
                case .double: append(Double(v).bitPattern)
                case .float16: append(Float16(v).bitPattern)
                default: append(v.bitPattern)
                }
            }
        case let .int(values):
            for v in values {
                switch t.type {
                case .int8: append(Int8(truncatingIfNeeded: v))
                case .uint8, .bool: append(UInt8(truncatingIfNeeded: v))
                case .int16: append(Int16(truncatingIfNeeded: v))
                case .uint16: append(UInt16(truncatingIfNeeded: v))
                case .int32: append(Int32(truncatingIfNeeded: v))
                case .uint32: append(UInt32(truncatingIfNeeded: v))
                default: append(v)
                }
            }
        }
        return out
    }

    private static func valueInfo(_ v: OnnxValueInfo, _ arena: CArena) -> Onnx__ValueInfoProto {
        var p = Onnx__ValueInfoProto()
        onnx__value_info_proto__init(&p)
        p.name = arena.string(v.name)
        var tensorType = Onnx__TypeProto__Tensor()
        onnx__type_proto__tensor__init(&tensorType)
        if let type = v.type {
            tensorType.has_elem_type = 1
            tensorType.elem_type = type.rawValue
        }
        if let dims = v.dimensions {
            var shape = Onnx__TensorShapeProto()
            onnx__tensor_shape_proto__init(&shape)
            shape.n_dim = dims.count
            shape.dim = arena.array(dims.map { d in
                var dim = Onnx__TensorShapeProto__Dimension()
                onnx__tensor_shape_proto__dimension__init(&dim)
                switch d {
                case let .fixed(n):
                    dim.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE; dim.dim_value = Int64(n)
                case let .symbolic(name):
                    dim.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM; dim.dim_param = arena.string(name)
                }
                return Optional(arena.new(dim))
            })
            tensorType.shape = arena.new(shape)
        }
        var type = Onnx__TypeProto()
        onnx__type_proto__init(&type)
        type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
        type.tensor_type = arena.new(tensorType)
        p.type = arena.new(type)
        return p
    }

    private static func binary(_ bytes: [UInt8], _ arena: CArena) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: bytes.count, data: arena.array(bytes))
    }
}
