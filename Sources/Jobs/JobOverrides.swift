import Yams

/// `--set KEY=VALUE` on the command line: a job file with some values replaced, e.g. `seed=2`,
/// `distillation.temperature=4`, `data.augment={translate: 2, flip: false}`. The value is YAML; missing
/// sections are created. The result is checked as any job file is (unknown keys and bad values are errors).
public enum JobOverrides {
    /// `text` with every `settings` entry applied, as YAML text.
    public static func apply(_ settings: [String], to text: String, file: String) throws -> String {
        guard !settings.isEmpty else { return text }
        try YAMLBounds.checkKeys(text, file: file)
        guard var root = try? Yams.compose(yaml: text), root.mapping != nil else {
            throw JobError(file: file, line: nil, "--set needs a job file whose top level is a mapping")
        }
        // Serialising expands every alias: bound it first.
        try YAMLBounds.checkExpansion(root, file: file)
        for setting in settings {
            guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else {
                throw JobError(file: file, line: nil, "--set '\(setting)': give KEY=VALUE, e.g. distillation.temperature=4")
            }
            let path = setting[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.allSatisfy({ !$0.isEmpty }) else {
                throw JobError(file: file, line: nil, "--set '\(setting)': the key '\(setting[..<equals])' has an empty part")
            }
            let valueText = String(setting[setting.index(after: equals)...])
            let value: Node
            try YAMLBounds.checkKeys(valueText, file: "--set '\(setting)'")
            do { value = try Yams.compose(yaml: valueText) ?? Node("") } catch {
                throw JobError(file: file, line: nil, "--set '\(setting)': the value is not valid YAML")
            }
            try YAMLBounds.checkExpansion(value, file: "--set '\(setting)'")
            root = try replacing(path[...], in: root, with: value, setting: setting, file: file)
        }
        return try Yams.serialize(node: root)
    }

    private static func replacing(_ path: ArraySlice<String>, in node: Node, with value: Node, setting: String, file: String) throws -> Node {
        guard let key = path.first else { return value }
        guard var mapping = node.mapping else {
            throw JobError(file: file, line: node.mark?.line, "--set '\(setting)': '\(key)' is inside a value that is not a mapping")
        }
        let child = mapping[key] ?? Node.mapping(Node.Mapping([]))
        mapping[key] = try replacing(path.dropFirst(), in: child, with: value, setting: setting, file: file)
        return Node.mapping(mapping)
    }
}
