import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file writes that never leave a partial file behind: write a temporary file beside the target,
/// fsync it, rename it over the target, then fsync the directory so the rename itself is durable.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let directory = url.deletingLastPathComponent().path
        let temporary = "\(directory)/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create \(temporary)", url) }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        try bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    close(fd)
                    throw failure("write failed", url)
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else { close(fd); throw failure("fsync failed", url) }
        guard close(fd) == 0 else { throw failure("close failed", url) }
        guard rename(temporary, url.path) == 0 else { throw failure("rename failed", url) }
        ok = true
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    private static func failure(_ what: String, _ url: URL) -> SafeTensorsError {
        SafeTensorsError(url.path, "\(what): \(String(cString: strerror(errno)))")
    }
}
