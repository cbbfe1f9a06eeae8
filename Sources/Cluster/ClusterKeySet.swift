import Foundation
import Wire

/// `distillery keygen`: CURVE key pairs written as DIR/NAME.key and DIR/NAME.secret, and each worker key's entry
/// in DIR/allow (what that key may do).
public enum ClusterKeySet {
    public struct Wanted: Sendable {
        public var name: String
        /// nil: the coordinator's own pair (not on the allow-list).
        public var role: ClusterAllowList.Role?
        /// A teacher key limited to these ensemble members (nil: any).
        public var members: Set<String>?
        public init(name: String, role: ClusterAllowList.Role?, members: Set<String>? = nil) {
            self.name = name; self.role = role; self.members = members
        }
    }

    public struct Written: Sendable {
        public var name: String, publicPath: String, secretPath: String, publicKey: String
        public var role: ClusterAllowList.Role?
    }

    /// A whole cluster's set: the coordinator, teacher-1..., student-1... and operator (the names local runs and
    /// Slurm use).
    public static func standard(teachers: Int, students: Int) -> [Wanted] {
        [Wanted(name: "coordinator", role: nil)] + (1...teachers).map { Wanted(name: "teacher-\($0)", role: .teacher) }
            + (1...students).map { Wanted(name: "student-\($0)", role: .student) } + [Wanted(name: "operator", role: .operator)]
    }

    /// Writes a new pair for each of `wanted` (refusing to replace a secret unless `force`), then the allow-list
    /// with their entries added (others kept) when any is a worker key. Returns the pairs and the allow-list's path
    /// and size, when written.
    public static func write(_ wanted: [Wanted], to directory: URL, force: Bool) throws -> (pairs: [Written], allow: (path: String, entries: Int)?) {
        let allowPath = directory.appendingPathComponent("allow").path
        var allow = FileManager.default.fileExists(atPath: allowPath) ? try ClusterAllowList.load(allowPath) : ClusterAllowList()
        var written: [Written] = []
        for key in wanted {
            let secret = directory.appendingPathComponent("\(key.name).secret").path
            if FileManager.default.fileExists(atPath: secret) && !force {
                throw ClusterError("\(secret) exists; pass --force to replace it")
            }
            let pair = try CurveKeyPair.generate()
            try pair.write(to: directory, name: key.name)
            if let role = key.role { allow.set(.init(publicKey: pair.publicKey, name: key.name, role: role, members: key.members)) }
            written.append(Written(name: key.name, publicPath: directory.appendingPathComponent("\(key.name).key").path, secretPath: secret,
                                   publicKey: pair.publicKey, role: key.role))
        }
        guard wanted.contains(where: { $0.role != nil }) else { return (written, nil) }
        try Data(allow.text.utf8).write(to: URL(fileURLWithPath: allowPath), options: .atomic)
        return (written, (allowPath, allow.entries.count))
    }
}
