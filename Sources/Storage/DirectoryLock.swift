import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One owner per directory: an exclusive `flock` on DIR/lock, held for the life of the object (in practice the
/// process). The kernel drops it when the process ends however it ends (kill -9 included), so only a live owner
/// stands in the way; the file says who that is, for the error another would-be owner gets.
public final class DirectoryLock {
    /// The directory is held by a live owner, who described itself as `owner`.
    public struct Held: Error, CustomStringConvertible {
        public let directory: String
        public let owner: String?
        public var description: String { "\(directory) is locked by \(owner ?? "another process")" }
    }

    public let path: String
    private let descriptor: Int32

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = "\(directory)/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError("\(path): cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            guard reason == EWOULDBLOCK else { throw StorageError("\(path): cannot lock: \(String(cString: strerror(reason)))") }
            throw Held(directory: directory, owner: owner?.isEmpty == false ? owner : nil)
        }
        descriptor = fd
        describeOwner("starting")
    }

    /// Records who holds the lock (pid, host, then `what`), for the error a second owner gets.
    public func describeOwner(_ what: String) {
        let text = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName), \(what), since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// A problem with files on disk, naming the file.
public struct StorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
