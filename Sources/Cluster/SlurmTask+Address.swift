import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension SlurmTask {
    /// A node's IPv4 address: from the resolver when the name resolves, else from Slurm's own record
    /// (`scontrol show node NAME`, its NodeAddr), which is all a cluster without DNS for its nodes has.
    public static func address(of node: String, scontrol: String = "scontrol") throws -> String {
        if let resolved = resolve(node) { return resolved }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [scontrol, "show", "node", "-o", node]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if let field = text.split(separator: " ").first(where: { $0.hasPrefix("NodeAddr=") }) {
            let address = String(field.dropFirst("NodeAddr=".count))
            if let resolved = resolve(address) { return resolved }
        }
        throw ClusterError("node '\(node)' does not resolve, and `scontrol show node \(node)` gives no usable NodeAddr")
    }

    static func resolve(_ name: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        guard let sa = first.pointee.ai_addr else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        let ok = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> Bool in
            var addr = sin.pointee.sin_addr
            return inet_ntop(AF_INET, &addr, &text, socklen_t(INET_ADDRSTRLEN)) != nil
        }
        return ok ? text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : nil
    }
}
