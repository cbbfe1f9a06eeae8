import Compute

/// A model description that fits on a command line and in a checkpoint:
///
///     mlp:784-1200-1200-10            Flatten, Linear+ReLU per hidden width, Linear to the classes
///     mlp:784-512-10:dropout=0.2:bn   with Dropout (and BatchNorm) after each hidden layer
///     cnn:1x28x28:c32bn-p-c64bn-p-f128-10
///         cN[kK][pP][sS][bn]  Conv2d to N channels, kernel K (3), padding P (K/2), stride S (1), [BatchNorm], ReLU
///         p[K]                MaxPool2d K (2)
///         dR                  Dropout with rate R
///         fN                  Linear to N features + ReLU (flattening first)
///         N (last)            Linear to N classes
///     lenet5, cnn-small       named models for 1x28x28 inputs with 10 classes
///     resnet:..., mobilenetv2:... module trees with skips (ModelSpec+Families.swift)
///     gpt:vocab=256,ctx=128,...   a decoder-only transformer over token ids (ModelSpec+GPT.swift)
/// Every spec becomes a module tree (`architecture`), which builds the network and is stored beside the text.
public struct ModelSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Stage: Sendable, Equatable {
        case conv(out: Int, kernel: Int, padding: Int, stride: Int, batchNorm: Bool)
        case maxPool(kernel: Int)
        case dropout(rate: Float)
        case hidden(out: Int, batchNorm: Bool)
        case classifier(classes: Int)
    }

    /// The canonical text, as stored in checkpoints.
    public let text: String
    /// Per-sample input shape: (features) for an MLP, (c, h, w) for a CNN.
    public let inputShape: [Int]
    /// The layers of an `mlp:` or `cnn:` chain; empty for the families with skips.
    public let stages: [Stage]
    /// Classes, or a language model's vocabulary.
    public let classes: Int
    public let architecture: ModuleDescription
    /// A next-token model: input (context) token ids, output (context, vocabulary) scores.
    public let isLanguageModel: Bool

    /// Per-sample output shape: (classes), or a language model's (context, vocabulary).
    public var outputShape: [Int] { isLanguageModel ? [inputShape[0], classes] : [classes] }

    public var description: String { text }

    /// A plain chain of layers (mlp:, cnn:), which every compression stage handles; the other families are trees.
    public var isChain: Bool { !stages.isEmpty }

    public static let named: [String: String] = [
        "lenet5": "cnn:1x28x28:c6k5-p-c16k5p0-p-f120-f84-10",
        "cnn-small": "cnn:1x28x28:c32bn-p-c64bn-p-f128-d0.3-10",
    ]

    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = ModelSpec.named[trimmed] ?? trimmed
        if expanded.hasPrefix("mlp:") || expanded.hasPrefix("cnn:") {
            (inputShape, stages) = expanded.hasPrefix("mlp:")
                ? try ModelSpec.parseMLP(String(expanded.dropFirst(4)), whole: text)
                : try ModelSpec.parseCNN(String(expanded.dropFirst(4)), whole: text)
            guard case let .classifier(c) = stages.last else { throw NeuralNetError("model spec '\(text)' has no classifier") }
            classes = c
            architecture = ModelSpec.chain(inputShape, stages)
        } else if let family = try ModelSpec.family(expanded, whole: text) {
            (inputShape, classes, architecture) = family
            stages = []
        } else {
            throw NeuralNetError("unknown model spec '\(text)': use mlp:784-1200-1200-10, cnn:1x28x28:c32-p-c64-p-f128-10, \(ModelSpec.familyExamples), \(ModelSpec.gptExample), or one of \(ModelSpec.named.keys.sorted().joined(separator: ", "))")
        }
        self.text = expanded
        isLanguageModel = expanded.hasPrefix("gpt:")
    }

    /// The chain's modules, named by position as in nn.Sequential; sizes follow the shapes (a shape that does not
    /// work out gives sizes that checking the tree reports).
    private static func chain(_ inputShape: [Int], _ stages: [Stage]) -> ModuleDescription {
        var modules: [ModuleDescription] = []
        var shape = inputShape
        func flattenIfNeeded() {
            if shape.count > 1 { modules.append(.flatten); shape = [shape.reduce(1) { $0.multipliedReportingOverflow(by: max($1, 0)).partialValue }] }
        }
        if inputShape.count == 1 { modules.append(.flatten) }  // MLPs take images as they come
        for stage in stages {
            switch stage {
            case let .conv(out, kernel, padding, stride, batchNorm):
                let g = ConvGeometry(batch: 1, channels: shape.first ?? 0, height: shape.count == 3 ? shape[1] : 0,
                                     width: shape.count == 3 ? shape[2] : 0, kernel: kernel, stride: stride, padding: padding)
                modules.append(.conv2d(inChannels: shape.first ?? 0, outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: 1))
                if batchNorm { modules.append(.batchNorm(features: out)) }
                modules.append(.relu)
                shape = [out, g.outHeight, g.outWidth]
            case let .maxPool(kernel):
                modules.append(.maxPool(kernel: kernel))
                if shape.count == 3 { shape = [shape[0], shape[1] / kernel, shape[2] / kernel] }
            case let .dropout(rate):
                modules.append(.dropout(rate: rate))
            case let .hidden(out, batchNorm):
                flattenIfNeeded()
                modules.append(.linear(inFeatures: shape[0], outFeatures: out))
                if batchNorm { modules.append(.batchNorm(features: out)) }
                modules.append(.relu)
                shape = [out]
            case let .classifier(classes):
                flattenIfNeeded()
                modules.append(.linear(inFeatures: shape[0], outFeatures: classes))
                shape = [classes]
            }
        }
        return .chain(modules)
    }

    private static func parseMLP(_ body: String, whole: String) throws -> ([Int], [Stage]) {
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let widths = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard widths.count >= 2, let dims = widths as? [Int], dims.allSatisfy({ $0 > 0 }) else {
            throw NeuralNetError("model spec '\(whole)': widths must be positive integers joined by '-', e.g. mlp:784-1200-1200-10")
        }
        var dropout: Float = 0
        var batchNorm = false
        for option in parts.dropFirst() {
            if option == "bn" {
                batchNorm = true
            } else if option.hasPrefix("dropout="), let r = Float(option.dropFirst(8)), r >= 0, r < 1 {
                dropout = r
            } else {
                throw NeuralNetError("model spec '\(whole)': unknown option '\(option)' (use :dropout=R with 0 <= R < 1, or :bn)")
            }
        }
        var stages: [Stage] = []
        for width in dims.dropFirst().dropLast() {
            stages.append(.hidden(out: width, batchNorm: batchNorm))
            if dropout > 0 { stages.append(.dropout(rate: dropout)) }
        }
        stages.append(.classifier(classes: dims.last!))
        return ([dims[0]], stages)
    }

    private static func parseCNN(_ body: String, whole: String) throws -> ([Int], [Stage]) {
        let hint = "e.g. cnn:1x28x28:c32bn-p-c64bn-p-f128-10"
        let parts = body.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw NeuralNetError("model spec '\(whole)': expected cnn:CxHxW:LAYERS, \(hint)") }
        let input = parts[0].split(separator: "x").map { Int($0) }
        guard input.count == 3, let shape = input as? [Int], shape.allSatisfy({ $0 > 0 }) else {
            throw NeuralNetError("model spec '\(whole)': input shape '\(parts[0])' must be CxHxW, \(hint)")
        }
        let tokens = parts[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        var stages: [Stage] = []
        for (i, token) in tokens.enumerated() {
            guard let stage = parseToken(token, isLast: i == tokens.count - 1) else {
                throw NeuralNetError("model spec '\(whole)': cannot read layer '\(token)' (tokens: cN[kK][pP][sS][bn], p[K], dR, fN, and the class count last), \(hint)")
            }
            stages.append(stage)
        }
        guard case .classifier = stages.last else {
            throw NeuralNetError("model spec '\(whole)': the last token must be the class count, \(hint)")
        }
        return (shape, stages)
    }

    private static func parseToken(_ token: String, isLast: Bool) -> Stage? {
        if isLast { return Int(token).flatMap { $0 > 0 ? .classifier(classes: $0) : nil } }
        guard let head = token.first else { return nil }
        var rest = Substring(token.dropFirst())
        switch head {
        case "c":
            let batchNorm = rest.hasSuffix("bn")
            if batchNorm { rest = rest.dropLast(2) }
            guard let fields = numberedFields(rest, keys: "kps"), let out = fields[""], out > 0 else { return nil }
            let kernel = fields["k"] ?? 3
            let stride = fields["s"] ?? 1
            let padding = fields["p"] ?? kernel / 2
            guard kernel > 0, stride > 0, padding >= 0 else { return nil }
            return .conv(out: out, kernel: kernel, padding: padding, stride: stride, batchNorm: batchNorm)
        case "p":
            if rest.isEmpty { return .maxPool(kernel: 2) }
            return Int(rest).flatMap { $0 > 0 ? .maxPool(kernel: $0) : nil }
        case "d":
            return Float(rest).flatMap { $0 >= 0 && $0 < 1 ? .dropout(rate: $0) : nil }
        case "f":
            let batchNorm = rest.hasSuffix("bn")
            if batchNorm { rest = rest.dropLast(2) }
            return Int(rest).flatMap { $0 > 0 ? .hidden(out: $0, batchNorm: batchNorm) : nil }
        default:
            return nil
        }
    }

    /// Splits "32k5p0" into ["": 32, "k": 5, "p": 0].
    private static func numberedFields(_ text: Substring, keys: String) -> [String: Int]? {
        var fields: [String: Int] = [:]
        var key = ""
        var digits = ""
        for ch in text {
            if ch.isNumber {
                digits.append(ch)
            } else if keys.contains(ch), !digits.isEmpty || key.isEmpty && fields.isEmpty {
                guard let v = Int(digits), fields[key] == nil else { return nil }
                fields[key] = v
                key = String(ch)
                digits = ""
            } else {
                return nil
            }
        }
        guard let v = Int(digits), fields[key] == nil else { return nil }
        fields[key] = v
        return fields
    }
}

import Foundation

extension ModelSpec {
    /// The spec that builds `stages` on `inputShape`, written back as text: what pruning that removes whole units
    /// and folding BatchNorm into the layer before it produce.
    public init(inputShape: [Int], stages: [Stage]) throws {
        let classes: String
        guard case let .classifier(c) = stages.last else { throw NeuralNetError("a model spec must end with the classifier") }
        classes = "\(c)"
        if inputShape.count == 1 {
            // mlp: options apply to every hidden layer alike.
            let hidden = stages.compactMap { stage -> (Int, Bool)? in
                if case let .hidden(out, bn) = stage { return (out, bn) } else { return nil }
            }
            let dropouts = Set(stages.compactMap { stage -> Float? in if case let .dropout(r) = stage { return r } else { return nil } })
            var text = "mlp:" + ([inputShape[0]] + hidden.map(\.0)).map(String.init).joined(separator: "-") + "-" + classes
            if hidden.contains(where: \.1) { text += ":bn" }
            if let rate = dropouts.first { text += ":dropout=\(rate)" }
            try self.init(text)
        } else {
            let tokens = stages.dropLast().map { stage -> String in
                switch stage {
                case let .conv(out, kernel, padding, stride, bn): return "c\(out)k\(kernel)p\(padding)s\(stride)" + (bn ? "bn" : "")
                case let .maxPool(kernel): return "p\(kernel)"
                case let .dropout(rate): return "d\(rate)"
                case let .hidden(out, bn): return "f\(out)" + (bn ? "bn" : "")
                case .classifier: return ""
                }
            }
            try self.init("cnn:" + inputShape.map(String.init).joined(separator: "x") + ":" + (tokens + [classes]).joined(separator: "-"))
        }
        guard self.stages == stages, self.inputShape == inputShape else {
            throw NeuralNetError("stages \(stages) cannot be written as one model spec (mlp options must apply to every hidden layer)")
        }
    }
}
