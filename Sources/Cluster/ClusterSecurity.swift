import Foundation
import Jobs
import Wire

/// How the cluster's sockets are secured: plain TCP only when the job says `cluster.plaintext: true`
/// (workers: no --keys); otherwise CURVE with a keys directory (`cluster.keys`; workers: --keys DIR):
///   coordinator.key     the coordinator's public key: every worker needs it
///   coordinator.secret  the coordinator's own pair: only where the coordinator runs
///   NAME.key/.secret    one pair per worker (`--key NAME`, default its --name); a student serves its data
///                       endpoint with it, and teachers learn its public key from their work assignments
///   allow               'PUBLIC_KEY NAME ROLE [MEMBERS]' per line (ClusterAllowList): who may connect, as what
/// `distillery keygen --out DIR --teachers 2 --students 1` writes a whole set.
public final class ClusterSecurity {
    /// This process's own pair (the coordinator's, or a worker's).
    private let own: CurveKeyPair?
    /// The coordinator's public key, that connections to it must find.
    private let coordinatorKey: String?
    /// Who may connect; a worker without an allow file binds no CURVE socket.
    public let allowList: ClusterAllowList?
    private var zap: ZAPHandler?

    /// The coordinator's side of a job.
    public convenience init(job: JobSpec) throws {
        guard !job.cluster.plaintext, let keys = job.cluster.keys else {
            try self.init(keysDirectory: nil, keyName: nil)
            return
        }
        try self.init(keysDirectory: keys, keyName: "coordinator")
    }

    /// nil: plain TCP. `keyName`: whose pair to load (`coordinator`, or a worker's key name).
    public init(keysDirectory: String?, keyName: String?) throws {
        guard let keys = keysDirectory else {
            own = nil; coordinatorKey = nil; allowList = nil
            return
        }
        let fm = FileManager.default
        if !fm.fileExists(atPath: "\(keys)/coordinator.key") && fm.fileExists(atPath: "\(keys)/server.secret") {
            throw ClusterError("\(keys) holds shared server/client keys, a layout that let any worker impersonate the coordinator; make a key set per worker: distillery keygen --out \(keys) --teachers N --students M")
        }
        let name = keyName ?? "coordinator"
        guard fm.fileExists(atPath: "\(keys)/\(name).secret") else {
            throw ClusterError("\(keys)/\(name).secret: no key pair named '\(name.escapedForLog)' (distillery keygen --out \(keys) --name \(name.escapedForLog) --role ROLE)")
        }
        own = try CurveKeyPair.load(secretFile: "\(keys)/\(name).secret")
        if name == "coordinator" {
            coordinatorKey = own!.publicKey
        } else {
            guard let text = try? String(contentsOfFile: "\(keys)/coordinator.key", encoding: .utf8),
                  case let key = text.trimmingCharacters(in: .whitespacesAndNewlines), CurveKeyPair.isValidKey(key) else {
                throw ClusterError("\(keys)/coordinator.key: missing or not a Z85 public key (distillery keygen writes it)")
            }
            coordinatorKey = key
        }
        let allowPath = "\(keys)/allow"
        if fm.fileExists(atPath: allowPath) {
            allowList = try ClusterAllowList.load(allowPath)
        } else if name == "coordinator" {
            throw ClusterError("\(allowPath): the coordinator needs the allow-list of worker keys (distillery keygen writes it)")
        } else {
            allowList = nil
        }
    }

    public var isEncrypted: Bool { own != nil }

    /// This process's public key (Z85), under CURVE.
    public var publicKey: String? { own?.publicKey }

    /// Makes a socket that binds serve CURVE with this process's pair, admitting the allow-list's keys of `roles`;
    /// starts the context's ZAP handler once (so one context serves one set of roles).
    public func secureServer(_ socket: Socket, context: Context, admitting roles: Set<ClusterAllowList.Role>) throws {
        guard let own else { return }
        guard let allowList else { throw ClusterError("a CURVE socket that binds needs the keys directory's allow file") }
        if zap == nil { zap = try ZAPHandler(context: context, allowList: allowList.zap(admitting: roles)) }
        try socket.set(.zapDomain("distillery"))
        try socket.set(.curveServer(secretKey: own.secretKey))
    }

    /// Makes a connecting socket present this process's pair and expect `serverKey` (default: the coordinator's).
    public func secureClient(_ socket: Socket, serverKey: String? = nil) throws {
        guard let own, let server = serverKey ?? coordinatorKey else { return }
        try socket.set(.curveClient(serverKey: server, publicKey: own.publicKey, secretKey: own.secretKey))
    }

    public func stop() { zap?.stop(); zap = nil }
}
