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
/// daemon busy computing still answers scrapes. Every connection is served at once by one poll loop, each closed
/// after its reply; one that has not sent its request within `idleSeconds`, or not taken its reply within
/// `replySeconds`, is dropped, so idle or slow clients never hold a scrape up.
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `listener` is written once in init; `running` is only read by the serving thread and set
    // under `lock` by stop().
    /// How long a connection may take to send its request.
    public static let idleSeconds = 1.5
    /// How long a connection may take to read its reply.
    public static let replySeconds = 5.0
    /// Connections served at once; past this the oldest is dropped.
    public static let maximumClients = 128
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

    /// One connection: what it sent so far, then the reply going out.
    private struct Client {
        var descriptor: Int32
        var deadline: Double
        var head: [UInt8] = []
        var reply: [UInt8]?
        var sent = 0
    }

    private static func serve(_ listener: Int32, registry: PrometheusCollectorRegistry) {
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
        var clients: [Client] = []
        defer {
            for c in clients { close(c.descriptor) }
            close(listener)
        }
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0.descriptor, events: Int16($0.reply == nil ? POLLIN : POLLOUT), revents: 0) }
            let now = monotonicNow()
            let wait = clients.map(\.deadline).min().map { max(0, min(0.2, $0 - now)) } ?? 0.2
            guard poll(&fds, nfds_t(fds.count), Int32(wait * 1000) + 1) >= 0 || errno == EINTR else { return }
            if fds[0].revents != 0 {
                while true {
                    let fd = accept(listener, nil, nil)
                    if fd < 0 {
                        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED { break }
                        if errno == EMFILE || errno == ENFILE { break }  // out of descriptors: serve the ones we have
                        return  // the listener was shut down by stop()
                    }
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    clients.append(Client(descriptor: fd, deadline: monotonicNow() + idleSeconds))
                    if clients.count > maximumClients { close(clients.removeFirst().descriptor) }
                }
            }
            var open: [Client] = []
            for (i, var client) in clients.enumerated() {
                let events = i + 1 < fds.count && fds[i + 1].fd == client.descriptor ? fds[i + 1].revents : 0
                if events != 0 { advance(&client, registry: registry) }
                if client.descriptor >= 0 && monotonicNow() < client.deadline {
                    open.append(client)
                } else if client.descriptor >= 0 {
                    close(client.descriptor)
                }
            }
            clients = open
        }
    }

    /// Reads what the client sent, or sends what is left of its reply; closes it when done or broken.
    private static func advance(_ client: inout Client, registry: PrometheusCollectorRegistry) {
        if client.reply == nil {
            var buffer = [UInt8](repeating: 0, count: 2048)
            let n = recv(client.descriptor, &buffer, buffer.count, 0)
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
            guard n > 0 else { return finish(&client) }
            client.head += buffer[0..<n]
            guard client.head.containsHeadEnd || client.head.count >= 8192 else { return }
            client.reply = reply(to: client.head, registry: registry)
            client.deadline = monotonicNow() + replySeconds
        }
        guard let reply = client.reply else { return }
        while client.sent < reply.count {
            let n = reply[client.sent...].withUnsafeBytes { send(client.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
            guard n > 0 else { return finish(&client) }
            client.sent += n
        }
        finish(&client)
    }

    private static func finish(_ client: inout Client) {
        close(client.descriptor)
        client.descriptor = -1
    }

    /// The whole HTTP response to a request head (at most 8 KiB).
    static func reply(to head: [UInt8], registry: PrometheusCollectorRegistry) -> [UInt8] {
        let requestLine = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let reply: (status: String, type: String, body: [UInt8])
        if requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1."), head.containsHeadEnd {
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
        return bytes
    }

    private static func monotonicNow() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

private extension Array where Element == UInt8 {
    var containsHeadEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}
