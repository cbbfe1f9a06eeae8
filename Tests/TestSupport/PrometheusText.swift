import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A strict reader of the Prometheus text exposition format (0.0.4), for tests that scrape a daemon:
/// every line must be a HELP, a TYPE or a sample, every sample's family must have been typed first.
public struct PrometheusText: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public var samples: [Sample] = []
    public var types: [String: String] = [:]
    public var help: [String: String] = [:]

    public init(_ text: String) throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.isEmpty { continue }
            let at = "line \(number + 1) '\(line)'"
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 3, Self.isName(parts[2]) else { throw TestSupportError("\(at): bad comment") }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw TestSupportError("\(at): bad TYPE")
                    }
                    guard types[parts[2]] == nil else { throw TestSupportError("\(at): family typed twice") }
                    types[parts[2]] = parts[3]
                } else {
                    help[parts[2]] = parts.count == 4 ? parts[3] : ""
                }
                continue
            }
            if line.hasPrefix("#") { continue }
            samples.append(try Self.sample(line, at: at))
            let name = samples.last!.name
            let family = ["_bucket", "_sum", "_count", "_total"].reduce(name) { n, suffix in
                types[n] == nil && n.hasSuffix(suffix) && types[String(n.dropLast(suffix.count))] != nil ? String(n.dropLast(suffix.count)) : n
            }
            guard types[family] != nil else { throw TestSupportError("\(at): sample of an untyped family") }
        }
    }

    /// The value of a sample by name and (a subset of) its labels.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == ":" || CharacterSet.letters.contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    static func sample(_ line: String, at: String) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isName(name) else { throw TestSupportError("\(at): bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = String(rest.prefix { $0 != "=" })
                guard isName(key) else { throw TestSupportError("\(at): bad label name") }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw TestSupportError("\(at): label without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while let c = rest.first, c != "\"" {
                    if c == "\\" {
                        rest = rest.dropFirst()
                        guard let e = rest.first else { throw TestSupportError("\(at): unfinished escape") }
                        value.append(e == "n" ? "\n" : e)
                    } else {
                        value.append(c)
                    }
                    rest = rest.dropFirst()
                }
                guard rest.first == "\"" else { throw TestSupportError("\(at): unterminated label value") }
                rest = rest.dropFirst()
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { throw TestSupportError("\(at): unterminated labels") }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard (1...2).contains(fields.count), let value = Double(fields[0] == "+Inf" ? "inf" : fields[0] == "-Inf" ? "-inf" : String(fields[0])) else {
            throw TestSupportError("\(at): bad value")
        }
        return Sample(name: name, labels: labels, value: value)
    }
}

/// A minimal HTTP/1.1 GET over a TCP socket, for scraping daemons (no proxies, no redirects).
public enum HTTPGet {
    public struct Response: Sendable {
        public var status: Int
        public var headers: String
        public var body: String
    }

    public static func fetch(host: String = "127.0.0.1", port: Int, path: String = "/metrics", request: String? = nil,
                             timeoutSeconds: Int = 5) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestSupportError("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))") }
        let text = Array((request ?? "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n").utf8)
        _ = text.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        let all = String(decoding: bytes, as: UTF8.self)
        guard let split = all.range(of: "\r\n\r\n"), let status = Int(all.split(separator: " ").dropFirst().first ?? "") else {
            throw TestSupportError("not an HTTP response from \(host):\(port): '\(all.prefix(80))'")
        }
        return Response(status: status, headers: String(all[..<split.lowerBound]), body: String(all[split.upperBound...]))
    }
}
