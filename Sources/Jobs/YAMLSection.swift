import Yams

/// One YAML mapping read key by key: each accessor marks its key as known, and `finish` rejects any key
/// nobody asked for, with the closest known key as a hint.
final class YAMLSection {
    let file: String
    let path: String
    private let node: Node
    private let pairs: [(key: String, value: Node, line: Int?)]
    private var known: Set<String> = []

    init(_ node: Node, path: String, file: String) throws {
        self.file = file
        self.path = path
        self.node = node
        guard let mapping = node.mapping else {
            throw JobError(file: file, line: node.mark?.line, "\(path) must be a mapping of keys to values")
        }
        pairs = mapping.map { ($0.key.string ?? "\($0.key)", $0.value, $0.key.mark?.line) }
    }

    var line: Int? { node.mark?.line }

    func error(_ key: String, _ message: String) -> JobError {
        JobError(file: file, line: pairs.first { $0.key == key }?.line ?? line, "\(path).\(key): \(message)")
    }

    /// The line of `key`, where it is present.
    func line(of key: String) -> Int? { pairs.first { $0.key == key }?.line }

    func value(_ key: String) -> Node? {
        known.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let node = value(key) else {
            if let fallback { return fallback }
            throw JobError(file: file, line: line, "\(path): missing required key '\(key)'")
        }
        guard node.scalar != nil, let s = node.string else { throw error(key, "expected text") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard has(key) else {
            known.insert(key)
            return nil
        }
        return try string(key)
    }

    func int(_ key: String, default fallback: Int? = nil, range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        guard let node = value(key) else {
            if let fallback { return fallback }
            throw JobError(file: file, line: line, "\(path): missing required key '\(key)'")
        }
        guard let v = node.int else { throw error(key, "expected an integer, got '\(node.string ?? "?")'") }
        guard range.contains(v) else {
            let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "in \(range.lowerBound)...\(range.upperBound)"
            throw error(key, "\(v) is out of range: must be \(bounds)")
        }
        return v
    }

    func double(_ key: String, default fallback: Double? = nil, range: ClosedRange<Double>) throws -> Double {
        guard let node = value(key) else {
            if let fallback { return fallback }
            throw JobError(file: file, line: line, "\(path): missing required key '\(key)'")
        }
        guard let v = node.float, v.isFinite else { throw error(key, "expected a number, got '\(node.string ?? "?")'") }
        guard range.contains(v) else { throw error(key, "\(v) is out of range: must be in \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let node = value(key) else { return fallback }
        guard let v = node.bool else { throw error(key, "expected true or false, got '\(node.string ?? "?")'") }
        return v
    }

    func section(_ key: String) throws -> YAMLSection? {
        guard let node = value(key) else { return nil }
        return try YAMLSection(node, path: "\(path).\(key)", file: file)
    }

    func sections(_ key: String) throws -> [YAMLSection] {
        guard let node = value(key) else { return [] }
        guard let sequence = node.sequence else { throw error(key, "expected a list") }
        return try sequence.enumerated().map { try YAMLSection($1, path: "\(path).\(key)[\($0)]", file: file) }
    }

    func strings(_ key: String) throws -> [String] {
        guard let node = value(key) else { return [] }
        guard let sequence = node.sequence else { throw error(key, "expected a list") }
        return try sequence.map { item in
            guard let s = item.string, item.scalar != nil else { throw error(key, "expected a list of text") }
            return s
        }
    }

    /// Rejects keys no accessor asked for.
    func finish() throws {
        for pair in pairs where !known.contains(pair.key) {
            let hint = known.min { editDistance($0, pair.key) < editDistance($1, pair.key) }
                .flatMap { editDistance($0, pair.key) <= 3 ? " (did you mean '\($0)'?)" : nil }
                ?? " (known keys: \(known.sorted().joined(separator: ", ")))"
            throw JobError(file: file, line: pair.line, "unknown key '\(pair.key)' in \(path)\(hint)")
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return a.isEmpty ? b.count : row[b.count]
}
