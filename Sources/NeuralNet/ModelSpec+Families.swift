/// The families whose blocks are not a chain, as `family:CxHxW:key=value,...`:
///
///     resnet:1x28x28:depth=20,width=16          ResNet for small images (He et al. 2016, section 4.2): a 3x3 stem,
///                                               three stages of (depth - 2) / 6 basic blocks at width, 2x and 4x
///                                               width, stride 2 entering stages 2 and 3 with 1x1 projection
///                                               shortcuts, global average pooling, the classifier
///     mobilenetv2:1x28x28:width=16,expansion=6,blocks=2
///                                               MobileNetV2-style (Sandler et al. 2018): inverted residual blocks
///                                               (1x1 expansion, depthwise 3x3, linear 1x1 bottleneck, ReLU6), three
///                                               stages at width, 2x and 4x width, strides 1, 2, 2
/// Both take `classes=N` (10). Module names follow PyTorch's models (`layer1.0.conv1.weight`, `fc.weight`).
extension ModelSpec {
    static let familyExamples = "resnet:1x28x28:depth=20,width=16, mobilenetv2:1x28x28:width=16,expansion=6,blocks=2"

    /// (input shape, classes, module tree) of a family spec, or nil when the text names no family.
    static func family(_ text: String, whole: String) throws -> ([Int], Int, ModuleDescription)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let builders: [String: (FamilyOptions) throws -> ([Int], Int, ModuleDescription)] = ["resnet": resnet, "mobilenetv2": mobileNetV2]
        if parts.first == "gpt" { return try gpt(parts, whole: whole) }
        guard let name = parts.first, let build = builders[name] else { return nil }
        guard parts.count == 3 else {
            throw NeuralNetError("model spec '\(whole)': expected \(name):CxHxW:key=value,..., e.g. \(familyExamples)")
        }
        let input = parts[1].split(separator: "x").map { Int($0) }
        guard input.count == 3, let shape = input as? [Int], shape.allSatisfy({ $0 > 0 }) else {
            throw NeuralNetError("model spec '\(whole)': input shape '\(parts[1])' must be CxHxW")
        }
        return try build(try FamilyOptions(spec: whole, inputShape: shape, fields: parts[2]))
    }

    /// The key=value fields of a family spec; asking for each marks it known, and fields nobody asked for are an error.
    final class FamilyOptions {
        let spec: String
        let inputShape: [Int]
        var values: [String: Int] = [:]
        var read: Set<String> = []

        /// Reads "key=N,key=N"; `zeroAllowed` keys may be 0 (switches).
        init(spec: String, inputShape: [Int], fields: String, zeroAllowed: Set<String> = []) throws {
            self.spec = spec
            self.inputShape = inputShape
            for field in fields.split(separator: ",") {
                let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, let value = Int(pair[1]), value > 0 || value == 0 && zeroAllowed.contains(pair[0]) else {
                    throw NeuralNetError("model spec '\(spec)': '\(field)' must be key=N with N a positive integer")
                }
                values[pair[0]] = value
            }
        }

        func value(_ key: String, default fallback: Int? = nil) throws -> Int {
            read.insert(key)
            if let v = values[key] ?? fallback { return v }
            throw NeuralNetError("model spec '\(spec)' needs \(key)=N")
        }

        func requireAllKnown() throws {
            if let unknown = values.keys.sorted().first(where: { !read.contains($0) }) {
                throw NeuralNetError("model spec '\(spec)': unknown option '\(unknown)' (known: \(read.sorted().joined(separator: ", ")))")
            }
        }
    }

    private static func convBN(_ i: Int, _ o: Int, kernel: Int, stride: Int, groups: Int = 1) -> [ModuleDescription] {
        [.conv2d(inChannels: i, outChannels: o, kernel: kernel, stride: stride, padding: kernel / 2, groups: groups), .batchNorm(features: o)]
    }

    private static func resnet(_ options: FamilyOptions) throws -> ([Int], Int, ModuleDescription) {
        let depth = try options.value("depth"), width = try options.value("width")
        let classes = try options.value("classes", default: 10)
        try options.requireAllKnown()
        guard depth >= 8, (depth - 2) % 6 == 0 else {
            throw NeuralNetError("model spec '\(options.spec)': depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110), got \(depth)")
        }
        let blocks = (depth - 2) / 6
        let channels = options.inputShape[0]
        var children: [ModuleDescription.Child] = [
            .init("conv1", convBN(channels, width, kernel: 3, stride: 1)[0]), .init("bn1", .batchNorm(features: width)),
            .init("relu", .relu),
        ]
        var inWidth = width
        for (stage, stageWidth) in [width, 2 * width, 4 * width].enumerated() {
            let stageBlocks = (0..<blocks).map { index -> ModuleDescription in
                let stride = stage > 0 && index == 0 ? 2 : 1
                defer { inWidth = stageWidth }
                return basicBlock(inWidth, stageWidth, stride: stride)
            }
            children.append(.init("layer\(stage + 1)", .chain(stageBlocks, label: "ResNet stage")))
        }
        children += [.init("avgpool", .globalAvgPool), .init("flatten", .flatten),
                     .init("fc", .linear(inFeatures: 4 * width, outFeatures: classes))]
        return (options.inputShape, classes, .sequential(children, label: "ResNet-\(depth)"))
    }

    /// conv-bn-relu-conv-bn, plus the input (or its 1x1 projection when the shape changes), then ReLU.
    private static func basicBlock(_ i: Int, _ o: Int, stride: Int) -> ModuleDescription {
        let first = convBN(i, o, kernel: 3, stride: stride), second = convBN(o, o, kernel: 3, stride: 1)
        var children: [ModuleDescription.Child] = [
            .init("conv1", first[0]), .init("bn1", first[1]), .init("relu1", .relu),
            .init("conv2", second[0]), .init("bn2", second[1]),
        ]
        var nodes: [GraphNode] = [
            .call("conv1", input: Graph.input, output: "conv1"), .call("bn1", input: "conv1", output: "bn1"),
            .call("relu1", input: "bn1", output: "relu1"), .call("conv2", input: "relu1", output: "conv2"),
            .call("bn2", input: "conv2", output: "bn2"),
        ]
        var skip = Graph.input
        if stride != 1 || i != o {
            children.append(.init("shortcut", .chain(convBN(i, o, kernel: 1, stride: stride), label: "Projection")))
            nodes.append(.call("shortcut", input: Graph.input, output: "shortcut"))
            skip = "shortcut"
        }
        children.append(.init("relu2", .relu))
        nodes += [.add(["bn2", skip], output: "sum"), .call("relu2", input: "sum", output: "out")]
        return .graph(children, nodes: nodes, label: stride > 1 ? "BasicBlock (stride \(stride))" : "BasicBlock")
    }

    private static func mobileNetV2(_ options: FamilyOptions) throws -> ([Int], Int, ModuleDescription) {
        let width = try options.value("width"), expansion = try options.value("expansion", default: 6)
        let blocks = try options.value("blocks", default: 2), classes = try options.value("classes", default: 10)
        try options.requireAllKnown()
        var children: [ModuleDescription.Child] = [
            .init("stem", .chain(convBN(options.inputShape[0], width, kernel: 3, stride: 1) + [.relu6], label: "ConvBNReLU6")),
        ]
        var stageBlocks: [ModuleDescription] = []
        var inWidth = width
        for (stage, (stageWidth, stride)) in [(width, 1), (2 * width, 2), (4 * width, 2)].enumerated() {
            for index in 0..<blocks {
                // The first stage's first block widens nothing, as MobileNetV2's t = 1 block.
                let t = stage == 0 && index == 0 ? 1 : expansion
                stageBlocks.append(invertedResidual(inWidth, stageWidth, stride: index == 0 ? stride : 1, expansion: t))
                inWidth = stageWidth
            }
        }
        children += [.init("blocks", .chain(stageBlocks, label: "Inverted residuals")), .init("avgpool", .globalAvgPool),
                     .init("flatten", .flatten), .init("classifier", .linear(inFeatures: inWidth, outFeatures: classes))]
        return (options.inputShape, classes, .sequential(children, label: "MobileNetV2"))
    }

    /// 1x1 expansion (unless t = 1), depthwise 3x3, linear 1x1 projection; the input added when shapes agree.
    private static func invertedResidual(_ i: Int, _ o: Int, stride: Int, expansion: Int) -> ModuleDescription {
        let hidden = i * expansion
        var children: [ModuleDescription.Child] = []
        var nodes: [GraphNode] = []
        var value = Graph.input
        func step(_ name: String, _ modules: [ModuleDescription], label: String) {
            children.append(.init(name, .chain(modules, label: label)))
            nodes.append(.call(name, input: value, output: name))
            value = name
        }
        if expansion != 1 { step("expand", convBN(i, hidden, kernel: 1, stride: 1) + [.relu6], label: "Expansion") }
        step("depthwise", convBN(hidden, hidden, kernel: 3, stride: stride, groups: hidden) + [.relu6], label: "Depthwise")
        step("project", convBN(hidden, o, kernel: 1, stride: 1), label: "Linear bottleneck")
        if stride == 1 && i == o { nodes.append(.add([value, Graph.input], output: "out")) }
        return .graph(children, nodes: nodes, label: "InvertedResidual (t=\(expansion)\(stride > 1 ? ", stride \(stride)" : ""))")
    }
}
