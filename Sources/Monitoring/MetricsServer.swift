import Foundation
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

public struct MonitoringError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Serves `GET /metrics` (Prometheus text format 0.0.4) from a registry, on a thread of its own so a
/// daemon busy computing still answers scrapes. One connection at a time, each closed after its reply:
/// a scraper asks every few seconds, and a peer that sends garbage or stalls gets a 400 or a timeout.
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `listener` is written once in init; `running` is only read by the serving thread and set
    // under `lock` by stop().
    public let registry: PrometheusCollectorRegistry
    /// The address and port actually bound (a port of 0 picks a free one).
    public let host: String
    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var running = true
    private let thread: Thread

    /// address: "HOST:PORT", e.g. "0.0.0.0:9464" or "127.0.0.1:0".
    public init(address: String, registry: PrometheusCollectorRegistry) throws {
        let (host, requestedPort) = try Self.parse(address)
        self.registry = registry
        self.host = host
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MonitoringError("metrics: socket() failed: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(requestedPort).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw MonitoringError("metrics: '\(host)' is not an IPv4 address (give HOST:PORT, e.g. 0.0.0.0:9464)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MonitoringError("metrics: cannot listen on \(address): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        thread = Thread { [registry] in Self.serve(fd, registry: registry) }
        thread.name = "metrics"
        thread.start()
    }

    /// "http://HOST:PORT/metrics".
    public var url: String { "http://\(host):\(port)/metrics" }

    /// Stops answering; the serving thread exits within its poll interval.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard running else { return }
        running = false
        shutdown(listener, Int32(SHUT_RDWR))
    }

    deinit { stop() }

    /// Splits "HOST:PORT" (an empty host means every interface).
    public static func parse(_ address: String) throws -> (String, Int) {
        let text = address.hasPrefix("tcp://") ? String(address.dropFirst(6)) : address
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw MonitoringError("metrics address '\(address)': give HOST:PORT, e.g. 0.0.0.0:9464 (port 0 picks a free one)")
        }
        let host = String(text[..<colon])
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    private static func serve(_ listener: Int32, registry: PrometheusCollectorRegistry) {
        defer { close(listener) }
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return // shut down by stop()
            }
            answer(client, registry: registry)
            close(client)
        }
    }

    /// Reads the request head (at most 8 KiB, 2 s) and answers it.
    static func answer(_ client: Int32, registry: PrometheusCollectorRegistry) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while head.count < 8192, !head.containsHeadEnd {
            let n = recv(client, &buffer, buffer.count, 0)
            guard n > 0 else { return }
            head += buffer[0..<n]
        }
        let requestLine = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let reply: (status: String, type: String, body: [UInt8])
        if requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") {
            let path = requestLine[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
            if requestLine[0] != "GET" && requestLine[0] != "HEAD" {
                reply = ("405 Method Not Allowed", "text/plain", Array("only GET /metrics\n".utf8))
            } else if path == "/metrics" {
                reply = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
            } else {
                reply = ("404 Not Found", "text/plain", Array("see /metrics\n".utf8))
            }
        } else {
            reply = ("400 Bad Request", "text/plain", Array("not an HTTP/1.x request\n".utf8))
        }
        var bytes = Array("HTTP/1.1 \(reply.status)\r\nContent-Type: \(reply.type)\r\nContent-Length: \(reply.body.count)\r\nConnection: close\r\n\r\n".utf8)
        if requestLine.first != "HEAD" { bytes += reply.body }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }
}

private extension Array where Element == UInt8 {
    var containsHeadEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}
