/// The decoder-only transformer family over token ids, GPT-2's shape at small sizes:
///
///     gpt:vocab=256,ctx=128,layers=4,heads=4,d=192[,tied=1]
///
/// Token and learned position embeddings, `layers` pre-LayerNorm blocks (x + attn(ln1(x)), then h + mlp(ln2(h)), the
/// MLP d -> 4d -> d with tanh GELU), a final LayerNorm and a bias-free head onto the vocabulary, sharing the token
/// table unless `tied=0`. Module names follow nanoGPT's layout: `tok_emb`, `pos_emb`, `layers.0.attn.qkv`,
/// `layers.0.mlp.fc`, `ln_f`, `lm_head`.
extension ModelSpec {
    static let gptExample = "gpt:vocab=256,ctx=128,layers=4,heads=4,d=192"

    static func gpt(_ parts: [String], whole: String) throws -> ([Int], Int, ModuleDescription) {
        guard parts.count == 2 else { throw NeuralNetError("model spec '\(whole)': expected gpt:key=N,..., e.g. \(gptExample)") }
        let options = try FamilyOptions(spec: whole, inputShape: [], fields: parts[1], zeroAllowed: ["tied"])
        let vocab = try options.value("vocab", default: 256), context = try options.value("ctx")
        let layers = try options.value("layers"), heads = try options.value("heads"), d = try options.value("d")
        let tied = try options.value("tied", default: 1)
        try options.requireAllKnown()
        guard d % heads == 0 else { throw NeuralNetError("model spec '\(whole)': d=\(d) must divide into heads=\(heads)") }
        guard tied <= 1 else { throw NeuralNetError("model spec '\(whole)': tied must be 0 or 1, got \(tied)") }
        let blocks = (0..<layers).map { _ in transformerBlock(d, heads: heads) }
        let children: [ModuleDescription.Child] = [
            .init("tok_emb", .embedding(count: vocab, features: d)),
            .init("pos_emb", .positionalEmbedding(context: context, features: d)),
            .init("layers", .chain(blocks, label: "Transformer blocks")),
            .init("ln_f", .layerNorm(features: d)),
            .init("lm_head", .outputProjection(features: d, count: vocab, tiedTo: tied == 1 ? "tok_emb" : nil)),
        ]
        return ([context], vocab, .sequential(children, label: "GPT"))
    }

    /// x + attn(ln1(x)), then h + mlp(ln2(h)).
    private static func transformerBlock(_ d: Int, heads: Int) -> ModuleDescription {
        let mlp: [ModuleDescription.Child] = [
            .init("fc", .linear(inFeatures: d, outFeatures: 4 * d)), .init("gelu", .gelu(.tanh)),
            .init("proj", .linear(inFeatures: 4 * d, outFeatures: d)),
        ]
        let children: [ModuleDescription.Child] = [
            .init("ln1", .layerNorm(features: d)), .init("attn", .attention(features: d, heads: heads, headFeatures: nil)),
            .init("ln2", .layerNorm(features: d)), .init("mlp", .sequential(mlp, label: "MLP")),
        ]
        let nodes: [GraphNode] = [
            .call("ln1", input: Graph.input, output: "ln1"), .call("attn", input: "ln1", output: "attn"),
            .add([Graph.input, "attn"], output: "h"),
            .call("ln2", input: "h", output: "ln2"), .call("mlp", input: "ln2", output: "mlp"),
            .add(["h", "mlp"], output: "out"),
        ]
        return .graph(children, nodes: nodes, label: "TransformerBlock")
    }
}
