/// What a worker may call itself: a name reaches log lines, `status`, file names and metric labels, so it is
/// checked at hello (and on the command line) instead of being escaped everywhere it is printed.
public enum WorkerName {
    public static let maximumLength = 64

    /// Why `name` is not a usable worker name, or nil when it is: 1-64 characters of letters, digits and . _ - @ : +,
    /// not starting with '.' or '-'.
    public static func problem(_ name: String) -> String? {
        let allowed = name.unicodeScalars.allSatisfy { s in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || "._-@:+".unicodeScalars.contains(s))
        }
        guard !name.isEmpty, name.unicodeScalars.count <= maximumLength, allowed,
              let first = name.first, first != ".", first != "-" else {
            return "worker name '\(name.escapedForLog)' is not allowed: use 1-\(maximumLength) letters, digits and . _ - @ : + (not starting with . or -)"
        }
        return nil
    }
}

extension String {
    /// The text with control characters, non-ASCII characters and backslashes escaped (\n, \u{1B}), so a peer's
    /// string cannot forge log lines or drive a terminal; at most 200 characters are kept.
    public var escapedForLog: String {
        var out = ""
        for (i, s) in unicodeScalars.enumerated() {
            if i == 200 { out += "..."; break }
            switch s {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if s.value < 0x20 || (0x7F...0x9F).contains(s.value) || !s.isASCII {
                    out += "\\u{\(String(s.value, radix: 16, uppercase: true))}"
                } else {
                    out.unicodeScalars.append(s)
                }
            }
        }
        return out
    }
}
