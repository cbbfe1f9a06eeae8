import Cluster
import Foundation
import Testing
import TestSupport

/// Every daemon on a host of its own: network namespaces with their own addresses (10.200.0.I), joined by a
/// bridge in a namespace of its own (Tests/Netns/netns-hosts.sh), so what crosses between daemons crosses a
/// real (virtual) network that the test can cut and throttle.
@Suite(.serialized) struct NetworkNamespaceTests {
    static let script = SlurmTests.repository.appendingPathComponent("Tests/Netns/netns-hosts.sh").path

    /// Hosts 1...n; removed (with whatever runs in them) when this goes away.
    final class Hosts {
        let prefix: String
        init(_ n: Int) throws {
            prefix = "dn\(getpid() % 10000)\(Int.random(in: 0..<100))"
            let up = try TestSupport.run("/bin/bash", [NetworkNamespaceTests.script, "up", prefix, "\(n)"], timeout: 60)
            guard up.status == 0 else {
                _ = try? TestSupport.run("/bin/bash", [NetworkNamespaceTests.script, "down", prefix])
                throw TestSupportError("network namespaces did not come up: \(up.stderr)")
            }
        }
        deinit { _ = try? TestSupport.run("/bin/bash", [NetworkNamespaceTests.script, "down", prefix], timeout: 60) }

        func address(_ i: Int) -> String { "10.200.0.\(i)" }
        func namespace(_ i: Int) -> String { "\(prefix)-h\(i)" }

        func control(_ action: String, _ arguments: String...) throws {
            let result = try TestSupport.run("/bin/bash", [NetworkNamespaceTests.script, action, prefix] + arguments, timeout: 30)
            guard result.status == 0 else { throw TestSupportError("netns-hosts.sh \(action): \(result.stderr)") }
        }

        /// Starts `distillery ARGS` on host i.
        @discardableResult
        func start(_ h: ClusterHarness, _ name: String, host i: Int, _ arguments: [String]) throws -> Process {
            try h.start(name, ["netns", "exec", namespace(i), ClusterHarness.binary] + arguments, executable: Hosts.ip)
        }

        /// `distillery status` asked from host i (the root namespace cannot reach the test network).
        func status(_ coordinator: String, from i: Int) -> ClusterStatus? {
            guard let r = try? TestSupport.run(Hosts.ip, ["netns", "exec", namespace(i), ClusterHarness.binary, "status", "--coordinator", coordinator, "--json"], timeout: 10),
                  r.status == 0 else { return nil }
            return try? JSONDecoder().decode(ClusterStatus.self, from: Data(r.stdout.utf8))
        }

        static let ip = TestSupport.which("ip") ?? "/usr/sbin/ip"
    }

    func available() throws -> Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: Hosts.ip), TestSupport.which("nft") != nil || FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            if TestSupport.requirePeers { throw TestSupportError("root, iproute2 and nftables are required for the network namespace tests") }
            return false
        }
        return true
    }

    /// Coordinator on host 1, teachers on 2 and 3, the student on 4.
    func startJob(_ h: ClusterHarness, _ hosts: Hosts) throws -> String {
        let coordinator = "tcp://\(hosts.address(1)):5555"
        try hosts.start(h, "coordinator", host: 1, ["coordinator", "--job", h.jobPath, "--bind", coordinator, "--state", h.stateDirectory])
        for (name, host) in [("teacher-a", 2), ("teacher-b", 3)] {
            try hosts.start(h, name, host: host, ["teacher", "--coordinator", coordinator, "--name", name])
        }
        try hosts.start(h, "student", host: 4, ["student", "--coordinator", coordinator, "--name", "student",
                                                "--bind", "tcp://0.0.0.0:*", "--advertise", hosts.address(4)])
        return coordinator
    }

    func expectCompletedExactlyOnce(_ h: ClusterHarness) throws {
        #expect(try h.exitStatus("coordinator", timeout: 180) == 0, "coordinator: \(h.log("coordinator").suffix(2000))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        let plan = try h.plan()
        let state = try h.state(replicas: 1)
        #expect(try state.completedItems() == Set(0..<UInt64(plan.itemCount)))
        let epochs = try state.epochs()
        #expect(epochs.map(\.epoch) == Array(0..<plan.epochs))
        #expect(epochs.allSatisfy { $0.samples == plan.sampleCount }, "every epoch trained on every sample once: \(epochs)")
    }

    @Test func aJobAcrossHostsSurvivesATeacherPartitionedPastItsLeaseAndTheTeacherRejoins() throws {
        guard try available() else { return }
        let hosts = try Hosts(4)
        var settings = ClusterProcessTests.slowJob
        settings.epochs = 60
        let h = try ClusterHarness("netns-partition", settings)
        let coordinator = try startJob(h, hosts)
        try h.waitFor("teacher-a to finish some items", timeout: 60) { () -> Bool? in
            guard let s = hosts.status(coordinator, from: 1), let a = s.workers.first(where: { $0.name == "teacher-a" }) else { return nil }
            return a.itemsDone >= 5 ? true : nil
        }
        // Cut teacher-a off for three leases: the coordinator must give its work to teacher-b.
        try hosts.control("partition", "2")
        try h.waitFor("the coordinator to drop teacher-a", timeout: 30) { h.log("coordinator").contains("(teacher-a) lost its lease") ? true : nil }
        Thread.sleep(forTimeInterval: 3)
        let during = hosts.status(coordinator, from: 1)
        try hosts.control("heal", "2")
        #expect(during?.workers.contains { $0.name == "teacher-a" } == false, "teacher-a still registered while cut off")
        // Healed, teacher-a's connection comes back; the coordinator does not know it any more, so it registers again.
        try h.waitFor("teacher-a to register again", timeout: 30) { h.log("teacher-a").contains("registering again") ? true : nil }
        let rejoined = try h.waitFor("teacher-a serving again", timeout: 30) { () -> ClusterStatus? in
            guard let s = hosts.status(coordinator, from: 3), s.workers.contains(where: { $0.name == "teacher-a" }) else { return nil }
            return s
        }
        #expect(rejoined.itemsDone < rejoined.itemsTotal, "the job ended before teacher-a came back")
        try expectCompletedExactlyOnce(h)
        #expect(h.log("coordinator").contains("re-queued"))
    }

    @Test func aJobOnRateLimitedLinksCompletes() throws {
        guard try available() else { return }
        let hosts = try Hosts(4)
        var settings = ClusterHarness.Settings()
        settings.trainSamples = 6000
        settings.epochs = 3
        settings.translate = 1
        let h = try ClusterHarness("netns-rate", settings)
        // Every worker's uplink at 512 kbit/s: soft targets, receipts and progress all squeeze through it.
        for host in 2...4 { try hosts.control("limit", "\(host)", "512kbit") }
        _ = try startJob(h, hosts)
        try expectCompletedExactlyOnce(h)
        // The shaper held packets back (tbf counts each time traffic ran over the rate).
        for host in 2...3 {
            let stats = try TestSupport.run(Hosts.ip, ["netns", "exec", hosts.namespace(host), "tc", "-s", "qdisc", "show", "dev", "eth0"]).stdout
            let overlimits = stats.components(separatedBy: "overlimits ").dropFirst().first?.split(separator: " ").first.flatMap { Int($0) }
            #expect((overlimits ?? 0) > 0, "host \(host)'s link was never over its rate: \(stats)")
        }
    }
}
