import Foundation
import Monitoring
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct MetricsServerTests {
    func registry() -> (MetricsRegistry, Counter, Gauge, ValueHistogram) {
        let r = MetricsRegistry(subsystem: "test")
        let c = r.counter("items", "Items done")
        let g = r.gauge("queue_depth", "Items waiting", labels: [("role", "teacher")])
        let h = r.histogram("latency", unit: "seconds", "Request latency", buckets: [0.001, 0.01, 0.1])
        return (r, c, g, h)
    }

    @Test func servesTheRegistryAndScrapesSeeItMove() throws {
        let (r, counter, gauge, histogram) = registry()
        let server = try MetricsServer(address: "127.0.0.1:0", registry: r.prometheus)
        defer { server.stop() }
        #expect(server.port > 0)
        counter.increment(by: Int64(3))
        gauge.set(7.0)
        histogram.record(0.005)
        let first = try HTTPGet.fetch(port: server.port)
        #expect(first.status == 200)
        #expect(first.headers.contains("text/plain; version=0.0.4"))
        let parsed = try PrometheusText(first.body)
        #expect(parsed.value("distillery_test_items_total") == 3)
        #expect(parsed.value("distillery_test_queue_depth", ["role": "teacher"]) == 7)
        #expect(parsed.value("distillery_test_latency_seconds_bucket", ["le": "0.01"]) == 1)
        #expect(parsed.value("distillery_test_latency_seconds_bucket", ["le": "0.001"]) == 0)
        #expect(parsed.help["distillery_test_items_total"] == "Items done")
        counter.increment()
        let second = try PrometheusText(HTTPGet.fetch(port: server.port).body)
        #expect(second.value("distillery_test_items_total") == 4)
    }

    @Test func answersOtherRequestsWithErrorsAndKeepsServing() throws {
        let (r, counter, _, _) = registry()
        counter.increment()
        let server = try MetricsServer(address: "127.0.0.1:0", registry: r.prometheus)
        defer { server.stop() }
        #expect(try HTTPGet.fetch(port: server.port, path: "/other").status == 404)
        #expect(try HTTPGet.fetch(port: server.port, request: "POST /metrics HTTP/1.1\r\n\r\n").status == 405)
        #expect(try HTTPGet.fetch(port: server.port, request: "\u{1}\u{2}garbage\r\n\r\n").status == 400)
        // A peer that connects and says nothing is dropped after the read timeout; scrapes go on.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(server.port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        defer { close(silent) }
        let scraped = try HTTPGet.fetch(port: server.port, timeoutSeconds: 10)
        #expect(scraped.status == 200)
        #expect(try PrometheusText(scraped.body).value("distillery_test_items_total") == 1)
    }

    @Test func promtoolAcceptsTheOutput() throws {
        guard let promtool = TestSupport.which("promtool") else {
            if TestSupport.requirePeers { throw TestSupportError("promtool (Debian's prometheus) is required but missing") }
            return
        }
        let (r, counter, gauge, histogram) = registry()
        counter.increment()
        gauge.set(2.0)
        histogram.record(0.2)
        let file = try TestSupport.temporaryDirectory("metrics").appendingPathComponent("metrics.txt")
        try r.text().write(to: file, atomically: true, encoding: .utf8)
        let result = try TestSupport.run("/bin/sh", ["-c", "\(promtool) check metrics < \(file.path)"])
        #expect(result.status == 0, "promtool: \(result.stdout) \(result.stderr)")
    }

    @Test func refusesBadAddresses() throws {
        let r = MetricsRegistry(subsystem: "test")
        #expect(throws: MonitoringError.self) { try MetricsServer(address: "localhost", registry: r.prometheus) }
        #expect(throws: MonitoringError.self) { try MetricsServer(address: "example.org:9464", registry: r.prometheus) }
        #expect(throws: MonitoringError.self) { try MetricsServer(address: "127.0.0.1:99999", registry: r.prometheus) }
        let first = try MetricsServer(address: "127.0.0.1:0", registry: r.prometheus)
        defer { first.stop() }
        #expect(throws: MonitoringError.self) { try MetricsServer(address: "127.0.0.1:\(first.port)", registry: r.prometheus) }
    }
}
