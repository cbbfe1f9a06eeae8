import Foundation
import Wire

/// Who may connect to a CURVE cluster, and as what: the keys directory's `allow` file, one key per line,
///   PUBLIC_KEY NAME ROLE [MEMBERS]
/// ROLE is teacher, student or operator (status only); MEMBERS (teachers) is a comma-separated list of the
/// ensemble members that key may serve, or * (the default) for any. NAME is what the connection authenticates as:
/// the coordinator registers, assigns work and accepts receipts by it, and students accept soft targets by it.
public struct ClusterAllowList: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case teacher, student, `operator`
    }

    public struct Entry: Sendable, Equatable {
        public var publicKey: String
        public var name: String
        public var role: Role
        /// Members a teacher key may serve; nil: any.
        public var members: Set<String>?

        public init(publicKey: String, name: String, role: Role, members: Set<String>? = nil) {
            self.publicKey = publicKey; self.name = name; self.role = role; self.members = members
        }

        /// The entry as a line of the file.
        public var line: String {
            let members = role == .teacher ? " " + (self.members.map { $0.sorted().joined(separator: ",") } ?? "*") : ""
            return "\(publicKey) \(name) \(role.rawValue)\(members)"
        }
    }

    public private(set) var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The ZAP allow-list for a binding socket that admits `roles`: each key reported as its name.
    public func zap(admitting roles: Set<Role>) -> AllowList {
        AllowList(entries.filter { roles.contains($0.role) }.map { (key: $0.publicKey, user: $0.name) })
    }

    /// Adds or replaces the entry of `entry.name`.
    public mutating func set(_ entry: Entry) {
        entries.removeAll { $0.name == entry.name || $0.publicKey == entry.publicKey }
        entries.append(entry)
    }

    public var text: String {
        "# PUBLIC_KEY NAME ROLE [MEMBERS]: who may connect to this cluster, as what (distillery keygen writes it)\n"
            + entries.map { $0.line + "\n" }.joined()
    }

    public static func load(_ path: String) throws -> ClusterAllowList {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ClusterError("\(path): cannot read the allow-list (distillery keygen writes it)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> ClusterAllowList {
        var list = ClusterAllowList()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let parts = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            // '#' is also a Z85 digit, so a comment is a line that starts with it.
            guard let key = parts.first, !key.hasPrefix("#") else { continue }
            let place = "\(file):\(number + 1)"
            guard CurveKeyPair.isValidKey(key) else { throw ClusterError("\(place): '\(key.escapedForLog)' is not a 40-character Z85 public key") }
            guard parts.count >= 3 else { throw ClusterError("\(place): expected 'PUBLIC_KEY NAME ROLE [MEMBERS]' (ROLE: teacher, student or operator)") }
            if let problem = WorkerName.problem(parts[1]) { throw ClusterError("\(place): \(problem)") }
            guard let role = Role(rawValue: parts[2]) else {
                throw ClusterError("\(place): unknown role '\(parts[2].escapedForLog)'; use teacher, student or operator")
            }
            var members: Set<String>?
            if parts.count > 3 {
                guard role == .teacher, parts.count == 4 else { throw ClusterError("\(place): only a teacher's line names members, as one comma-separated list") }
                members = parts[3] == "*" ? nil : Set(parts[3].split(separator: ",").map(String.init))
            }
            guard list.entry(named: parts[1]) == nil, !list.entries.contains(where: { $0.publicKey == key }) else {
                throw ClusterError("\(place): '\(parts[1])' or its key is listed twice")
            }
            list.entries.append(Entry(publicKey: key, name: parts[1], role: role, members: members))
        }
        return list
    }
}
