import ArgumentParser
import Foundation
import Wire

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE keypair for encrypting cluster traffic.",
        discussion: """
        Writes DIR/NAME.key (the public key: give it to peers, list it in allow-lists) and DIR/NAME.secret
        (both keys, mode 0600). An allow-list file holds one 'PUBLIC_KEY [NAME]' per line.
        """
    )

    @Option(help: "Directory to write the keys to (created if missing).")
    var out: String

    @Option(help: "Base name of the key files.")
    var name: String = "distillery"

    @Flag(help: "Replace existing key files.")
    var force = false

    func validate() throws {
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name must be a plain file name, got '\(name)'") }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: out)
        let secret = directory.appendingPathComponent("\(name).secret").path
        if FileManager.default.fileExists(atPath: secret) && !force {
            throw ValidationError("\(secret) exists; pass --force to replace it")
        }
        let keys = try CurveKeyPair.generate()
        try keys.write(to: directory, name: name)
        Terminal.line("wrote \(directory.appendingPathComponent("\(name).key").path) and \(secret)")
        Terminal.line("public key: \(keys.publicKey)")
    }
}
