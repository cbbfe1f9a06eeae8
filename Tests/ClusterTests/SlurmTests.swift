import Cluster
import Foundation
import Testing
import TestSupport

/// The SLURM environment mapped to roles, addresses and ports (pure), and cluster/slurm/distill.sbatch
/// submitted to a real Slurm (slurmctld and three slurmd on this machine, Tests/Slurm/slurm-cluster.sh).
@Suite(.serialized) struct SlurmTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func hostListsExpandAsSlurmWritesThem() throws {
        #expect(try Hostlist.expand("n[1-3]") == ["n1", "n2", "n3"])
        #expect(try Hostlist.expand("gpu[08-10,12],login") == ["gpu08", "gpu09", "gpu10", "gpu12", "login"])
        #expect(try Hostlist.expand("rack[1-2]-n[1-2]") == ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"])
        #expect(try Hostlist.expand("head") == ["head"])
        for bad in ["n[1-3", "n]1[", "n[3-1]", "", "n[a-b]"] {
            #expect(throws: ClusterError.self, "\(bad)") { try Hostlist.expand(bad) }
        }
    }

    @Test func rolesAndPortsComeFromTheEnvironment() throws {
        var env = ["SLURM_JOB_ID": "4242", "SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURMD_NODENAME": "n1",
                   "SLURM_JOB_NODELIST": "n[1-3]", "SLURM_STEP_NODELIST": "n[1-3]", "SLURM_CPUS_PER_TASK": "2"]
        let roles: [SlurmTask.Role] = [.coordinator, .teacher(0), .teacher(1), .student(0)]
        var metricsPorts: Set<Int> = []
        for (rank, expected) in roles.enumerated() {
            env["SLURM_PROCID"] = "\(rank)"
            let task = try SlurmTask(environment: env)
            #expect(try task.role(teachers: 2, replicas: 1) == expected)
            #expect(task.coordinatorNode == "n1")
            #expect(task.coordinatorPort == 20000 + (4242 % 160) * 256)
            #expect(task.cpusPerTask == 2)
            metricsPorts.insert(task.metricsPort)
        }
        let coordinatorPort = try SlurmTask(environment: env).coordinatorPort
        #expect(metricsPorts.count == 4 && !metricsPorts.contains(coordinatorPort))
        // Neighbouring jobs get disjoint blocks of ports.
        let base = try SlurmTask(environment: env).basePort
        env["SLURM_JOB_ID"] = "4243"
        #expect(try SlurmTask(environment: env).basePort == base + 256)
        // Mistakes name the variable or the count.
        #expect(throws: ClusterError.self) { try SlurmTask(environment: env.filter { $0.key != "SLURM_PROCID" }) }
        #expect(throws: ClusterError.self) { try SlurmTask(environment: env.merging(["SLURM_PROCID": "x"]) { $1 }) }
        #expect(throws: ClusterError.self) { try SlurmTask(environment: env).role(teachers: 1, replicas: 1) }
        #expect(try SlurmTask.address(of: "127.0.0.1") == "127.0.0.1")
    }

    // MARK: a real Slurm

    /// A Slurm of three nodes in a directory of its own (not inside a job's, which its tear-down may delete first).
    final class Slurm {
        let directory: URL
        let environment: [String: String]
        static let script = SlurmTests.repository.appendingPathComponent("Tests/Slurm/slurm-cluster.sh").path

        init() throws {
            directory = try TestSupport.temporaryDirectory("slurm-cluster")
            let up = try TestSupport.run("/bin/bash", [Self.script, "up", directory.path, "3"], timeout: 60)
            guard up.status == 0 else {
                _ = try? TestSupport.run("/bin/bash", [Self.script, "down", directory.path], timeout: 60)
                throw TestSupportError("Slurm did not come up: \(up.stderr)")
            }
            environment = ["SLURM_CONF": up.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]
        }

        /// Cancels its jobs and stops every daemon and job step it started; safe to call twice.
        func down() {
            _ = try? TestSupport.run("/bin/bash", [Self.script, "down", directory.path], timeout: 60)
        }

        deinit {
            down()
            if ProcessInfo.processInfo.environment["DISTILLERY_KEEP_TEST_DIRS"] != "1" { try? FileManager.default.removeItem(at: directory) }
        }

        func run(_ command: String, _ arguments: [String]) throws -> ProcessResult {
            try TestSupport.run("/usr/bin/env", [command] + arguments, environment: environment, timeout: 60)
        }

        func submit(job: String, output: String) throws -> String {
            let result = try run("sbatch", ["--parsable", "--nodes=3", "--ntasks=4", "--output=\(output)",
                                            "--export=ALL,DISTILLERY=\(ClusterHarness.binary),DISTILLERY_THREADS=1",
                                            SlurmTests.repository.appendingPathComponent("cluster/slurm/distill.sbatch").path, job])
            guard result.status == 0, let id = result.stdout.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) else {
                throw TestSupportError("sbatch failed: \(result.stderr)")
            }
            return id
        }

        /// The job's state once it has ended (polling scontrol; sbatch --wait backs off too far). On a timeout the
        /// error carries what an operator would look at: the job's record, the daemons' logs and the job's output.
        func finalState(_ id: String, timeout: Double, output: String) throws -> String {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let text = try run("scontrol", ["show", "job", "-o", id]).stdout
                if let state = text.split(separator: " ").first(where: { $0.hasPrefix("JobState=") })?.dropFirst("JobState=".count),
                   ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"].contains(String(state)) {
                    return String(state)
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
            let report = diagnostics(id, output: output)
            _ = try? run("scancel", [id])
            throw TestSupportError("Slurm job \(id) did not end within \(timeout) s\n\(report)")
        }

        func diagnostics(_ id: String, output: String) -> String {
            func tail(_ path: String, _ lines: Int = 25) -> String {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(missing)"
                return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
            }
            var parts = ["scontrol show job \(id):\n" + ((try? run("scontrol", ["show", "job", id]).stdout) ?? "(no answer)"),
                         "squeue --steps:\n" + ((try? run("squeue", ["--steps"]).stdout) ?? "(no answer)"),
                         "slurmctld.log:\n" + tail("\(directory.path)/log/slurmctld.log")]
            for node in 1...3 { parts.append("slurmd-n\(node).log:\n" + tail("\(directory.path)/log/slurmd-n\(node).log")) }
            parts.append("the job's output (every task's lines):\n" + tail(output, 80))
            return parts.joined(separator: "\n--- ")
        }
    }

    func slurmAvailable() throws -> Bool {
        let tools = ["slurmctld", "slurmd", "sbatch", "munged"].allSatisfy { TestSupport.which($0) != nil || FileManager.default.isExecutableFile(atPath: "/usr/sbin/\($0)") }
        guard tools, getuid() == 0 else {
            if TestSupport.requirePeers { throw TestSupportError("Slurm (slurmctld, slurmd, slurm-client, munge) and root are required for this test") }
            return false
        }
        return true
    }

    /// Command lines of running processes matching `pattern` (zombies left to a PID 1 that does not reap are not running).
    func liveProcesses(matching pattern: String) throws -> String {
        let listing = try TestSupport.run("/bin/ps", ["-eo", "stat=,args="]).stdout
        let regex = try Regex(pattern)
        return listing.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("Z") && $0.contains(regex) }
            .joined(separator: "\n")
    }

    @Test func aJobSubmittedToSlurmCompletesAndADeadReplicaFailsItWithTheReason() throws {
        guard try slurmAvailable() else { return }
        var settings = ClusterHarness.Settings()
        settings.epochs = 2
        let h = try ClusterHarness("slurm", settings)
        let slurm = try Slurm()
        defer { slurm.down() }

        let output = h.directory.appendingPathComponent("job-ok.out").path
        let id = try slurm.submit(job: h.jobPath, output: output)
        let state = try slurm.finalState(id, timeout: 240, output: output)
        let log = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(state == "COMPLETED", "job \(id) ended \(state):\n\(log.suffix(3000))")
        #expect(FileManager.default.fileExists(atPath: "\(h.output)/student.safetensors"), "no student: \(log.suffix(2000))")
        for role in ["coordinator", "teacher 0", "teacher 1", "student replica 0"] { #expect(log.contains("): \(role) -> coordinator tcp://127.0.0.1:"), "\(role) missing:\n\(log.suffix(2000))") }
        #expect(log.contains("job complete"))

        // The same job again, longer, from scratch: kill -9 its student replica mid-training.
        var slow = ClusterProcessTests.slowJob
        slow.epochs = 40
        let h2 = try ClusterHarness("slurm-fail", slow)
        let output2 = h2.directory.appendingPathComponent("job-fail.out").path
        let id2 = try slurm.submit(job: h2.jobPath, output: output2)
        let pid = try h2.waitFor("the student replica's pid and first epoch", timeout: 120) { () -> Int32? in
            let text = (try? String(contentsOfFile: output2, encoding: .utf8)) ?? ""
            guard text.contains("epoch 1/40"), let line = text.split(separator: "\n").first(where: { $0.contains("student replica 0 ->") }),
                  let pid = line.components(separatedBy: "(pid ").last?.split(separator: ")").first.flatMap({ Int32($0) }) else { return nil }
            return pid
        }
        kill(pid, SIGKILL)
        let state2 = try slurm.finalState(id2, timeout: 120, output: output2)
        let log2 = (try? String(contentsOfFile: output2, encoding: .utf8)) ?? ""
        #expect(state2 == "FAILED", "job \(id2) ended \(state2):\n\(log2.suffix(3000))")
        #expect(log2.contains("student replica 0") && log2.contains("went silent"), "the reason is not reported:\n\(log2.suffix(3000))")
        #expect(log2.contains("the job step failed"))

        // Tear-down leaves no daemon and no task behind.
        let directory = slurm.directory.path
        slurm.down()
        let left = try liveProcesses(matching: "slurmctld|slurmd|slurmstepd|distillery slurm")
        #expect(!left.contains(directory) && !left.contains(h.jobPath) && !left.contains(h2.jobPath) && !left.contains("slurmstepd"), "left running: \(left)")
    }

    /// A step whose tasks hang (a job that never ends) is torn down whole: slurmstepd and its tasks with the daemons.
    @Test func tearDownEndsJobStepsThatHang() throws {
        guard try slurmAvailable() else { return }
        let slurm = try Slurm()
        defer { slurm.down() }
        let script = slurm.directory.appendingPathComponent("hang.sbatch")
        try "#!/bin/bash\nsrun sleep 600\n".write(to: script, atomically: true, encoding: .utf8)
        let submitted = try slurm.run("sbatch", ["--parsable", "--nodes=2", "--ntasks=2", "--output=\(slurm.directory.path)/hang.out", script.path])
        try #require(submitted.status == 0, "\(submitted.stderr)")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !(try liveProcesses(matching: "sleep 600").contains("sleep 600")) { Thread.sleep(forTimeInterval: 0.2) }
        #expect(try liveProcesses(matching: "slurmstepd").contains("slurmstepd"))
        slurm.down()
        let left = try liveProcesses(matching: "slurmctld|slurmd|slurmstepd|sleep 600")
        #expect(!left.contains(slurm.directory.path) && !left.contains("slurmstepd") && !left.contains("sleep 600"), "left running: \(left)")
    }
}
