import Foundation

/// One coordinator per state directory: an exclusive `flock` on STATE/lock, held for the life of the process.
/// The kernel drops it when the process ends however it ends (kill -9 included), so only a live owner stands in
/// the way; the file names that owner for the error a second coordinator gets.
public final class StateLock {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock or throws, naming the live owner.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = "\(directory)/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ClusterError("\(path): cannot open the state lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            guard reason == EWOULDBLOCK else { throw ClusterError("\(path): cannot lock the state: \(String(cString: strerror(reason)))") }
            let who = owner.flatMap { $0.isEmpty ? nil : $0.escapedForLog } ?? "another process"
            throw ClusterError("the state directory \(directory) is in use by a live coordinator (\(who)); stop it first, or give this one another --state")
        }
        descriptor = fd
        describeOwner("starting")
    }

    /// Records who holds the lock (pid, host, endpoint), for the error a second coordinator gets.
    public func describeOwner(_ endpoint: String) {
        let text = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName), \(endpoint), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
