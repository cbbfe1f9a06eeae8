import CZeroMQ
import Foundation

/// A CURVE keypair in Z85 (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(publicKey: String, secretKey: String) throws {
        guard CurveKeyPair.isValidKey(publicKey), CurveKeyPair.isValidKey(secretKey) else {
            throw CurveError("keys must be 40-character Z85 strings")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41), secretKey = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_keypair(&publicKey, &secretKey), "zmq_curve_keypair")
        return try CurveKeyPair(publicKey: String(nulTerminated: publicKey), secretKey: String(nulTerminated: secretKey))
    }

    /// True for a 40-character string that decodes as Z85 to 32 bytes.
    public static func isValidKey(_ key: String) -> Bool {
        guard key.utf8.count == 40 else { return false }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, key) != nil
    }

    /// The 32 raw bytes of a Z85 key (what ZAP hands the handler).
    static func rawKey(_ key: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, key) != nil ? out : nil
    }

    static func z85(_ raw: [UInt8]) -> String? {
        guard raw.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        return zmq_z85_encode(&out, raw, 32) != nil ? String(nulTerminated: out) : nil
    }

    /// Writes NAME.key (the public key, shareable) and NAME.secret (both keys, mode 0600) in `directory`.
    public func write(to directory: URL, name: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let publicURL = directory.appendingPathComponent("\(name).key")
        let secretURL = directory.appendingPathComponent("\(name).secret")
        // Create the secret file with 0600 before any key byte is in it.
        guard FileManager.default.createFile(atPath: secretURL.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CurveError("cannot create \(secretURL.path)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secretURL.path)
        try Data("public \(publicKey)\nsecret \(secretKey)\n".utf8).write(to: secretURL)
        try Data("\(publicKey)\n".utf8).write(to: publicURL)
    }

    /// Reads a NAME.secret file written by `write(to:name:)`.
    public static func load(secretFile path: String) throws -> CurveKeyPair {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CurveError("\(path): cannot read") }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        guard let p = fields["public"], let s = fields["secret"] else {
            throw CurveError("\(path): expected lines 'public KEY' and 'secret KEY'")
        }
        do { return try CurveKeyPair(publicKey: p, secretKey: s) } catch { throw CurveError("\(path): \(error)") }
    }
}

/// A problem with keys or allow-lists, naming the file.
public struct CurveError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Client public keys allowed to connect, each with the user id the ZAP handler reports for it.
public struct AllowList: Sendable, Equatable {
    public private(set) var users: [String: String] = [:]  // Z85 key -> user id

    public init(_ entries: [(key: String, user: String)] = []) {
        for e in entries { users[e.key] = e.user }
    }

    /// Lines of `KEY [NAME]`; a line starting with '#' is a comment ('#' is also a Z85 digit, so only at
    /// the start). The user id is NAME, or the key itself.
    public static func load(_ path: String) throws -> AllowList {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CurveError("\(path): cannot read the allow-list") }
        var list = AllowList()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let parts = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = parts.first, !key.hasPrefix("#") else { continue }
            guard CurveKeyPair.isValidKey(key) else {
                throw CurveError("\(path):\(number + 1): '\(key)' is not a 40-character Z85 public key")
            }
            list.users[key] = parts.count > 1 ? parts[1] : key
        }
        return list
    }
}
