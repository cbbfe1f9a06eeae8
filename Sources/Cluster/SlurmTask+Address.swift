import Foundation

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

    /// The first IPv4 address the resolver gives for `name` (Foundation's, which asks getaddrinfo).
    static func resolve(_ name: String) -> String? {
        Host(name: name).addresses.first { address in
            let parts = address.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
        }
    }
}
