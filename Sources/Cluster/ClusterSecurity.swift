import Foundation
import Jobs
import Wire

/// How the cluster's sockets are secured: plain TCP only when the job says `cluster.plaintext: true`
/// (workers: no --keys); otherwise CURVE with the keys in `cluster.keys` (workers: --keys DIR):
///   server.secret  the keypair every binding socket (coordinator, student data endpoints) serves with
///   client.secret  the keypair every connecting worker presents
///   allow          optional allow-list ('PUBLIC_KEY NAME' per line); default: client.key's key as "worker"
/// (`distillery keygen --out DIR --name server`, then `--name client`.)
public final class ClusterSecurity {
    private let server: CurveKeyPair?
    private let client: CurveKeyPair?
    private let allowList: AllowList
    private var zap: ZAPHandler?

    public convenience init(job: JobSpec) throws {
        try self.init(keysDirectory: job.cluster.plaintext ? nil : job.cluster.keys)
    }

    /// nil: plain TCP.
    public init(keysDirectory: String?) throws {
        guard let keys = keysDirectory else {
            server = nil; client = nil; allowList = AllowList()
            return
        }
        let server = try CurveKeyPair.load(secretFile: "\(keys)/server.secret")
        let client = try CurveKeyPair.load(secretFile: "\(keys)/client.secret")
        let allowPath = "\(keys)/allow"
        allowList = FileManager.default.fileExists(atPath: allowPath)
            ? try AllowList.load(allowPath) : AllowList([(key: client.publicKey, user: "worker")])
        self.server = server
        self.client = client
    }

    public var isEncrypted: Bool { server != nil }

    /// Makes a socket that binds serve CURVE, and starts the context's ZAP handler once.
    public func secureServer(_ socket: Socket, context: Context) throws {
        guard let server else { return }
        if zap == nil { zap = try ZAPHandler(context: context, allowList: allowList) }
        try socket.set(.zapDomain("distillery"))
        try socket.set(.curveServer(secretKey: server.secretKey))
    }

    public func secureClient(_ socket: Socket) throws {
        guard let server, let client else { return }
        try socket.set(.curveClient(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey))
    }

    public func stop() { zap?.stop(); zap = nil }
}
