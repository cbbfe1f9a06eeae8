import Yams

/// What keeps a job file from costing more than it says: aliases expand without bound (a "billion laughs" of ten
/// nested lists of ten is 10^9 nodes), and one used as a mapping key is hashed whole while the file is composed. So
/// an alias may not be a key (a job's keys are plain words), and a document may expand to at most `maximumNodes`.
enum YAMLBounds {
    static let maximumNodes = 100_000

    /// Refuses an alias in a key position (`*name :` or `? *name`) before the text is composed.
    static func checkKeys(_ text: String, file: String) throws {
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let chars = Array(line)
            var quote: Character?
            var i = 0
            while i < chars.count {
                let c = chars[i]
                if let q = quote {
                    if c == q { quote = nil } else if c == "\\" && q == "\"" { i += 1 }
                } else if c == "'" || c == "\"" {
                    quote = c
                } else if c == "#" && (i == 0 || chars[i - 1] == " " || chars[i - 1] == "\t") {
                    break
                } else if c == "*" && (i == 0 || " \t[{,?".contains(chars[i - 1])) {
                    var j = i + 1
                    while j < chars.count && !" \t,[]{}".contains(chars[j]) { j += 1 }
                    var k = j
                    while k < chars.count && (chars[k] == " " || chars[k] == "\t") { k += 1 }
                    let followedByColon = k < chars.count && chars[k] == ":" && (k + 1 == chars.count || " \t,]}".contains(chars[k + 1]))
                    var before = i - 1
                    while before >= 0 && (chars[before] == " " || chars[before] == "\t") { before -= 1 }
                    if followedByColon || (before >= 0 && chars[before] == "?") {
                        throw JobError(file: file, line: number + 1, "an alias (\(String(chars[i..<j]))) used as a mapping key: a job file's keys are plain words")
                    }
                    i = j
                    continue
                }
                i += 1
            }
        }
    }

    /// Refuses a document whose aliases expand past `maximumNodes` (counting stops there, so this is cheap).
    static func checkExpansion(_ root: Node, file: String) throws {
        var count = 0
        var stack = [root]
        while let node = stack.popLast() {
            count += 1
            guard count <= maximumNodes else {
                throw JobError(file: file, line: nil, "the YAML expands to more than \(maximumNodes) nodes (aliases of aliases?); a job file is far smaller")
            }
            switch node {
            case let .mapping(m): for pair in m { stack.append(pair.key); stack.append(pair.value) }
            case let .sequence(s): stack.append(contentsOf: s)
            default: break
            }
        }
    }
}
