import NeuralNet

/// The transformer's layers as ONNX nodes: GELU from primitives every opset has, attention as PyTorch's exporter
/// writes it.
extension GraphBuilder {
    /// GELU from the primitives every opset has: 0.5 x (1 + erf(x / sqrt 2)), or its tanh form.
    mutating func gelu(_ x: String, tanh: Bool, name: String) -> String {
        func scalar(_ suffix: String, _ value: Float) -> String { constant("\(name).constant_\(suffix)", .float, [], floats: [value]) }
        let inner: String
        if tanh {
            let cube = node("Mul", [node("Mul", [x, x], name: "\(name).square"), x], name: "\(name).cube")
            let sum = node("Add", [x, node("Mul", [cube, scalar("c", 0.044715)], name: "\(name).scaled_cube")], name: "\(name).sum")
            inner = node("Tanh", [node("Mul", [sum, scalar("k", 0.7978845608028654)], name: "\(name).argument")], name: "\(name).tanh")
        } else {
            inner = node("Erf", [node("Mul", [x, scalar("inverse_sqrt2", 0.7071067811865476)], name: "\(name).argument")], name: "\(name).erf")
        }
        let onePlus = node("Add", [inner, scalar("one", 1)], name: "\(name).one_plus")
        return node("Mul", [node("Mul", [x, scalar("half", 0.5)], name: "\(name).half"), onePlus], name: "\(name).gelu")
    }

    /// Causal self-attention as PyTorch's exporter writes it: the fused projection reshaped to (B, T, 3, H, hd) and
    /// transposed to (3, B, H, T, hd), q k^T scaled and masked (-inf above the diagonal), Softmax, the heads merged.
    mutating func attend(_ a: CausalSelfAttention, path: String, input: String) -> String {
        let h = a.heads, hd = a.headFeatures, inner = a.inner
        func linear(_ l: Linear, _ x: String, _ name: String) -> String {
            let (x, weight, bias) = gemmOperands(l, path: name, input: x)!
            let transposed = node("Transpose", [weight], name: "\(name).weight_t", attributes: ["perm": .ints([1, 0])])
            return node("Add", [node("MatMul", [x, transposed], name: "\(name).matmul"), bias], name: "\(name).add")
        }
        let fused = linear(a.qkv, input, "\(path).qkv")
        let split = constant("\(path).split_shape", .int64, [5], ints: [0, Int64(context), 3, Int64(h), Int64(hd)])
        let heads = node("Transpose", [node("Reshape", [fused, split], name: "\(path).reshape")], name: "\(path).heads",
                         attributes: ["perm": .ints([2, 0, 3, 1, 4])])
        func part(_ index: Int64, _ label: String) -> String {
            node("Gather", [heads, constant("\(path).\(label)_index", .int64, [], ints: [index])], name: "\(path).\(label)", attributes: ["axis": .int(0)])
        }
        let (q, k, v) = (part(0, "q"), part(1, "k"), part(2, "v"))
        let keysT = node("Transpose", [k], name: "\(path).k_t", attributes: ["perm": .ints([0, 1, 3, 2])])
        let scale = constant("\(path).scale", .float, [], floats: [1 / Float(hd).squareRoot()])
        let scores = node("Mul", [node("MatMul", [q, keysT], name: "\(path).scores"), scale], name: "\(path).scaled")
        let maskValues = (0..<context * context).map { $0 % context > $0 / context ? -Float.infinity : 0 }
        let masked = node("Add", [scores, constant("\(path).causal_mask", .float, [context, context], floats: maskValues)], name: "\(path).masked")
        let probabilities = node("Softmax", [masked], name: "\(path).softmax", attributes: ["axis": .int(-1)])
        let attended = node("MatMul", [probabilities, v], name: "\(path).attend")
        let merged = node("Transpose", [attended], name: "\(path).merge", attributes: ["perm": .ints([0, 2, 1, 3])])
        let mergeShape = constant("\(path).merge_shape", .int64, [3], ints: [0, Int64(context), Int64(inner)])
        return linear(a.proj, node("Reshape", [merged, mergeShape], name: "\(path).merged"), "\(path).proj")
    }
}
