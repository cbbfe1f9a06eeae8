import Cluster
import Foundation
import Testing
import TestSupport

/// Every daemon of a running job serves /metrics: the text parses, the numbers move between scrapes, and a
/// real Prometheus with ops/prometheus.yml scrapes all three.
@Suite(.serialized) struct MetricsProcessTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The port a daemon printed ("metrics at http://127.0.0.1:PORT/metrics").
    func metricsPort(_ h: ClusterHarness, _ name: String) throws -> Int {
        try h.waitFor("\(name)'s metrics endpoint", timeout: 60) { () -> Int? in
            guard let line = h.log(name).split(separator: "\n").first(where: { $0.contains("metrics at http://") }),
                  let url = line.components(separatedBy: "metrics at http://").last else { return nil }
            return Int(url.split(separator: "/")[0].split(separator: ":")[1])
        }
    }

    func scrape(_ port: Int) throws -> PrometheusText {
        let response = try HTTPGet.fetch(port: port)
        guard response.status == 200 else { throw TestSupportError("scrape of :\(port) answered \(response.status)") }
        return try PrometheusText(response.body)
    }

    @Test func everyDaemonsMetricsParseMoveAndArePrometheusScraped() throws {
        var settings = ClusterProcessTests.slowJob
        // Longer than the test: the daemons must still be up when Prometheus scrapes them (stopped at the end).
        settings.epochs = 2000
        let h = try ClusterHarness("cluster-metrics", settings)
        let metrics = ["--metrics", "127.0.0.1:0"]
        let (_, endpoint) = try h.startCoordinator(extra: metrics)
        _ = try h.startTeacher("teacher", coordinator: endpoint, extra: metrics)
        _ = try h.startStudent("student", coordinator: endpoint, extra: metrics)
        let ports = try ["coordinator", "teacher", "student"].map { try metricsPort(h, $0) }

        _ = try h.waitFor("the student's first steps", timeout: 60) { try scrape(ports[2]).value("distillery_student_steps_total").flatMap { $0 > 0 ? true : nil } }
        let before = try ports.map(scrape)
        Thread.sleep(forTimeInterval: 2)
        let after = try ports.map(scrape)

        func moved(_ i: Int, _ name: String, _ labels: [String: String] = [:]) {
            let a = before[i].value(name, labels), b = after[i].value(name, labels)
            #expect(a != nil && b != nil && b! > a!, "\(name) did not move: \(String(describing: a)) -> \(String(describing: b))")
        }
        moved(0, "distillery_coordinator_assignments_total")
        moved(0, "distillery_coordinator_heartbeats_received_total")
        moved(0, "distillery_coordinator_wire_received_bytes_total")
        moved(1, "distillery_teacher_items_done_total")
        moved(1, "distillery_teacher_soft_targets_sent_bytes_total")
        moved(1, "distillery_teacher_compute_seconds_total")
        moved(2, "distillery_student_steps_total")
        moved(2, "distillery_student_samples_total")
        moved(2, "distillery_student_soft_targets_received_bytes_total")
        #expect(after[0].value("distillery_coordinator_workers", ["role": "teacher"]) == 1)
        #expect(after[0].value("distillery_coordinator_workers", ["role": "student"]) == 1)
        #expect(after[0].value("distillery_coordinator_work_items") == Double(try h.plan().itemCount))
        #expect((after[0].value("distillery_coordinator_assignment_latency_seconds_count") ?? 0) > 0)
        #expect((after[2].value("distillery_student_loss", ["part": "total"]) ?? 0) > 0)
        #expect(after[2].types["distillery_student_loss"] == "gauge")
        #expect(after[0].types["distillery_coordinator_lease_expiries_total"] == "counter")

        try prometheusScrapes(ports: ports, h)
        h.processes["coordinator"]?.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
    }

    /// Runs Debian's Prometheus on ops/prometheus.yml (targets pointed at this job's daemons) and asks its
    /// API whether every target is up and what it read.
    func prometheusScrapes(ports: [Int], _ h: ClusterHarness) throws {
        guard let prometheus = TestSupport.which("prometheus") else {
            if TestSupport.requirePeers { throw TestSupportError("prometheus (Debian's package) is required but missing") }
            return
        }
        let dir = h.directory.appendingPathComponent("prometheus")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("prometheus-targets"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.repository.appendingPathComponent("ops/prometheus.yml"), to: dir.appendingPathComponent("prometheus.yml"))
        for (file, port) in zip(["coordinator", "teachers", "students"], ports) {
            try "- targets: [\"127.0.0.1:\(port)\"]\n".write(to: dir.appendingPathComponent("prometheus-targets/\(file).yml"), atomically: true, encoding: .utf8)
        }
        let webPort = try TestSupport.freeTCPPort()
        let server = try h.start("prometheus", [
            "--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
            "--web.listen-address=127.0.0.1:\(webPort)",
        ], executable: prometheus)
        defer { server.terminate() }
        func query(_ q: String) throws -> [[String: Any]] {
            let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let body = try HTTPGet.fetch(port: webPort, path: "/api/v1/query?query=\(encoded)").body
            let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            return (json?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
        }
        func value(_ r: [String: Any]) -> Double? { ((r["value"] as? [Any])?.last as? String).flatMap(Double.init) }
        let up = try h.waitFor("Prometheus to scrape all three daemons", timeout: 60) { () -> [[String: Any]]? in
            guard let results = try? query("up"), results.count == 3, results.allSatisfy({ value($0) == 1 }) else { return nil }
            return results
        }
        let jobs = Set(up.compactMap { ($0["metric"] as? [String: Any])?["job"] as? String })
        #expect(jobs == ["distillery-coordinator", "distillery-teacher", "distillery-student"])
        let steps = try query("distillery_student_steps_total").first.flatMap(value)
        #expect((steps ?? 0) > 0, "Prometheus read no student steps")
    }
}
