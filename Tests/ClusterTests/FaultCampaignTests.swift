import Cluster
import Jobs
import Foundation
import Testing
import TestSupport
import Wire

/// What the fault campaign (issue 15) found, each as the real daemons over real sockets: stops and restarts of the
/// coordinator, floods, forgeries and hijacks, hostile names and slow clients.
@Suite(.serialized) struct FaultCampaignTests {
    static var slowJob: ClusterHarness.Settings { ClusterProcessTests.slowJob }

    func expectSameWeights(_ a: [String: [Float]], _ b: [String: [Float]], _ what: String) {
        #expect(a.keys.sorted() == b.keys.sorted(), "\(what): different parameters")
        for (name, values) in a { #expect(values == b[name], "\(what): \(name) differs from the undisturbed run") }
    }

    // MARK: 1. a clean stop keeps the job resumable

    @Test func aCoordinatorStoppedWithSigtermResumesLikeOneKilled() throws {
        let h = try ClusterHarness("fault-sigterm-coordinator", Self.slowJob)
        let reference = try h.referenceWeights()
        let (first, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher-a", coordinator: endpoint)
        _ = try h.startTeacher("teacher-b", coordinator: endpoint)
        let student = try h.startStudent("student", coordinator: endpoint)
        try h.waitForMidJob(endpoint)
        first.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
        #expect(h.log("coordinator").contains("resumes the job"))
        // The workers outlive it, waiting, as they do after kill -9.
        Thread.sleep(forTimeInterval: 1.5)
        #expect(student.isRunning && h.processes["teacher-a"]!.isRunning && h.processes["teacher-b"]!.isRunning,
                "student: \(h.log("student").suffix(600))")
        #expect(h.log("student").contains("waiting up to"))
        // A coordinator on the same state (the same address: the workers know no other) finishes the job.
        _ = try h.startCoordinator(bind: endpoint, name: "coordinator-2")
        #expect(try h.exitStatus("coordinator-2", timeout: 120) == 0, "coordinator-2: \(h.log("coordinator-2").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        #expect(try h.exitStatus("teacher-a", timeout: 30) == 0)
        let resumed = h.log("coordinator-2")
        let already = resumed.components(separatedBy: " already done").first?.split(separator: " ").last.flatMap { Int($0) }
        #expect((already ?? 0) >= 10, "the restart kept finished work: \(resumed.prefix(400))")
        expectSameWeights(try h.weights(), reference, "after a SIGTERM and a restart")
    }

    @Test func aWholeClusterStartedAgainOnAStoppedStateCompletesTheJob() throws {
        let h = try ClusterHarness("fault-sigterm-everything", Self.slowJob)
        let reference = try h.referenceWeights()
        let (first, endpoint) = try h.startCoordinator()
        let teacher = try h.startTeacher("teacher-a", coordinator: endpoint)
        let student = try h.startStudent("student", coordinator: endpoint)
        try h.waitForMidJob(endpoint)
        // The operator stops the coordinator and loses the workers (another allocation, say).
        first.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
        kill(student.processIdentifier, SIGKILL)
        kill(teacher.processIdentifier, SIGKILL)
        student.waitUntilExit(); teacher.waitUntilExit()
        // Everything started again on the state: the new student (a new data endpoint) takes the old one's replica
        // once it has been silent for a lease, and starts from scratch, so every item is delivered to it again.
        let (_, endpoint2) = try h.startCoordinator(name: "coordinator-2")
        _ = try h.startTeacher("teacher-1", coordinator: endpoint2)
        _ = try h.startTeacher("teacher-2", coordinator: endpoint2)
        _ = try h.startStudent("student-2", coordinator: endpoint2)
        #expect(try h.exitStatus("coordinator-2", timeout: 150) == 0, "coordinator-2: \(h.log("coordinator-2").suffix(1500))")
        #expect(try h.exitStatus("student-2", timeout: 30) == 0, "student-2: \(h.log("student-2").suffix(1500))")
        #expect(h.log("coordinator-2").contains("takes over replica 0"))
        let plan = try h.plan()
        #expect(try h.state(replicas: 1).completedItems().count == plan.itemCount)
        expectSameWeights(try h.weights(), reference, "a new cluster on the old state")
    }

    @Test func aStudentThatFinishesWhileTheCoordinatorIsDownIsCountedWhenItComesBack() throws {
        // Cached soft targets: once epoch 1's items are in, the student trains on without the coordinator.
        var settings = Self.slowJob
        settings.translate = 0
        settings.epochs = 8
        let h = try ClusterHarness("fault-finish-while-down", settings)
        let (first, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        let student = try h.startStudent("student", coordinator: endpoint)
        try h.waitFor("every item delivered", timeout: 60) { () -> Bool? in
            guard let s = h.status(endpoint) else { return nil }
            return s.itemsDone == s.itemsTotal ? true : nil
        }
        first.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
        try h.waitFor("the student's last epoch", timeout: 120) { h.log("student").contains("epoch 8/8") ? true : nil }
        Thread.sleep(forTimeInterval: 1)
        #expect(student.isRunning, "the student left without the coordinator's word: \(h.log("student").suffix(600))")
        _ = try h.startCoordinator(bind: endpoint, name: "coordinator-2")
        #expect(try h.exitStatus("coordinator-2", timeout: 60) == 0, "coordinator-2: \(h.log("coordinator-2").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        #expect(try h.state(replicas: 1).status == "complete")
        // And a coordinator started on a complete state ends at once.
        _ = try h.startCoordinator(bind: endpoint, name: "coordinator-3")
        #expect(try h.exitStatus("coordinator-3", timeout: 20) == 0)
        #expect(h.log("coordinator-3").contains("already complete"))
    }

    // MARK: 2. one coordinator per state

    @Test func aSecondCoordinatorOnTheSameStateIsRefusedNamingTheOwner() throws {
        let h = try ClusterHarness("fault-second-coordinator")
        let (first, endpoint) = try h.startCoordinator()
        let second = try h.start("coordinator-2", ["coordinator", "--job", h.jobPath, "--bind", "tcp://127.0.0.1:*", "--state", h.stateDirectory])
        #expect(try h.exitStatus("coordinator-2", timeout: 20) != 0)
        let log = h.log("coordinator-2")
        #expect(log.contains("in use by a live coordinator") && log.contains("pid \(first.processIdentifier)") && log.contains(endpoint), "\(log)")
        #expect(try String(contentsOfFile: "\(h.stateDirectory)/endpoint", encoding: .utf8).contains(endpoint), "the second one rewrote the endpoint")
        _ = second
        // A dead owner is no obstacle: after kill -9 the state is free again.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let (third, _) = try h.startCoordinator(name: "coordinator-3")
        #expect(third.isRunning)
        third.terminate()
        #expect(try h.exitStatus("coordinator-3", timeout: 20) == 0)
    }

    // MARK: 3. loading is not silence

    @Test func workersThatLoadSlowlyKeepTheirShortLease() throws {
        var s = ClusterHarness.Settings()
        s.leaseMilliseconds = 1000
        let h = try ClusterHarness("fault-slow-load", s)
        let (_, endpoint) = try h.startCoordinator()
        // Loading the job takes 2.5 s in every worker: more than two leases without a word.
        let slow = ["DISTILLERY_FAULT_SLOW_LOAD_MS": "2500"]
        _ = try h.startTeacher("teacher", coordinator: endpoint, environment: slow)
        _ = try h.startStudent("student", coordinator: endpoint, environment: slow)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(!h.log("coordinator").contains("lost its lease"), "\(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0)
    }

    @Test func workersThatComputeLongerThanTheirLeaseKeepIt() throws {
        var s = ClusterHarness.Settings()
        s.trainSamples = 500
        s.testSamples = 200
        s.teachers = ["mlp:64-32-4"]
        s.epochs = 2
        s.leaseMilliseconds = 1000
        let h = try ClusterHarness("fault-slow-compute", s)
        let reference = try h.referenceWeights()
        let (_, endpoint) = try h.startCoordinator()
        // Every teacher batch and every student evaluation takes 2.5 s more: more than two leases of compute.
        let slow = ["DISTILLERY_FAULT_SLOW_COMPUTE_MS": "2500"]
        _ = try h.startTeacher("teacher", coordinator: endpoint, environment: slow)
        _ = try h.startStudent("student", coordinator: endpoint, environment: slow)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(!h.log("coordinator").contains("lost its lease"), "\(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0)
        #expect(try h.weights() == reference, "the heartbeats beside the compute changed what it computed")
    }

    // MARK: 5. floods

    @Test func aFloodOnTheDataEndpointNeitherStarvesNorBloatsNorFillsTheLog() throws {
        var s = Self.slowJob
        s.leaseMilliseconds = 2000
        let h = try ClusterHarness("fault-flood", s)
        let reference = try h.referenceWeights()
        let (_, endpoint) = try h.startCoordinator()
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        let student = try h.startStudent("student", coordinator: endpoint)
        let dataEndpoint = try h.dataEndpoint(of: "student")
        let context = Context()
        let flood = try Socket(context, .push)
        try flood.set(.sendHighWaterMark(1_000_000))
        try flood.connect(dataEndpoint)
        defer { flood.close() }
        // 100,000 ten-byte garbage messages, then 500 random ones of up to 1 MiB.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<100_000 { _ = try flood.send([.bytes((0..<10).map { _ in UInt8.random(in: 0...255, using: &rng) })], dontWait: true) }
        let big = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for _ in 0..<500 { _ = try flood.send([.bytes(Array(big[0..<Int.random(in: 1...(1 << 20), using: &rng)]))], dontWait: true) }
        var peak = 0
        while student.isRunning {
            peak = max(peak, ClusterHarness.peakResidentBytes(student) ?? 0)
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(student.terminationStatus == 0, "student: \(h.log("student").suffix(1500))")
        expectSameWeights(try h.weights(), reference, "after a flood")
        let studentLog = h.log("student")
        #expect(studentLog.utf8.count < 64 * 1024, "the flood wrote \(studentLog.utf8.count) bytes of log")
        #expect(studentLog.contains("refused bad messages on the data endpoint") && studentLog.contains("more of"), "\(studentLog.suffix(800))")
        #expect(peak < 400 << 20, "the student's peak resident set grew to \(peak >> 20) MiB")
    }

    // MARK: 6 and 7. forged soft targets, a hijacked replica, forged receipts

    @Test func forgedSoftTargetsHijackedReplicasAndForgedReceiptsAreRefused() throws {
        let h = try ClusterHarness("fault-forgery", Self.slowJob)
        let reference = try h.referenceWeights()
        let plan = try h.plan()
        let (_, endpoint) = try h.startCoordinator()
        _ = try h.startStudent("student", coordinator: endpoint)
        let dataEndpoint = try h.dataEndpoint(of: "student")
        let context = Context()
        // Before any teacher: forged targets for real future items, sent as if from the teacher to come.
        let data = try Socket(context, .push)
        try data.connect(dataEndpoint)
        defer { data.close() }
        let rows = plan.positions(shard: 0).count
        let classes = 4
        for id in [UInt64(0), 1, 5] {
            let item = plan.item(id)!
            let member = plan.members[item.member]
            var negative = [Float](repeating: 0.5, count: rows * classes)
            for r in 0..<rows { negative[r * classes] = -0.5; negative[r * classes + 1] = 1.0 }
            let uniform = [Float](repeating: 0.25, count: rows * classes)
            for values in [negative, uniform] {
                let body = SoftTargets(workID: id, epoch: UInt32(item.epoch), shard: UInt32(item.shard), member: member, temperature: 2,
                                       probabilities: true, ranges: [], token: Array(repeating: 7, count: 32))
                try data.send(WireMessage(Envelope(jobID: "test-job", sender: "teacher", kind: .softTargets(body)),
                                          tensors: [WireTensor(name: "targets", values: values, shape: [rows, classes])]).frames())
            }
        }
        // A peer claiming the live student's replica (its data endpoint), then receipts for items never computed.
        let hijacker = try Socket(context, .dealer)
        try hijacker.set(.routingID("hijacker"))
        try hijacker.connect(endpoint)
        defer { hijacker.close() }
        try hijacker.send(WireMessage(Envelope(jobID: "test-job", sender: "student", kind: .hello(Hello(role: .student, dataEndpoint: dataEndpoint)))).frames())
        let answer = try h.waitFor("the coordinator's answer to the hijacker", timeout: 10) { () -> ReceivedMessage? in
            guard try Poller.readable([hijacker], timeoutMilliseconds: 100)[0], let frames = try hijacker.receive(dontWait: true) else { return nil }
            return try ReceivedMessage.parse(frames)
        }
        guard case let .error(code, text) = answer.envelope.kind else { Issue.record("expected an error, got \(answer.envelope.kind)"); return }
        #expect(code == .unauthorized && text.contains("held by a live student"), "\(text)")
        for id in 0..<UInt64(20) {
            try hijacker.send(WireMessage(Envelope(jobID: "test-job", sender: "student", kind: .workDone(workID: id, samples: UInt32(rows)))).frames())
        }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(h.status(endpoint)?.itemsDone == 0)
        // Now the real teacher; the job must end with the undisturbed weights.
        _ = try h.startTeacher("teacher", coordinator: endpoint)
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")
        expectSameWeights(try h.weights(), reference, "after forgeries")
        let studentLog = h.log("student")
        #expect(studentLog.contains("refused soft targets from a teacher not assigned the item"), "\(studentLog.suffix(1500))")
        #expect(h.log("coordinator").contains("refused hellos for a replica a live student holds"))
    }

    @Test func registeredTeachersCannotDeliverItemsTheyWereNotGivenAndValuesMustBeProbabilities() throws {
        // In process: the checks a student applies to every delivery.
        let tokens = AssignmentToken(key: AssignmentToken.randomKey())
        let token = tokens.token(worker: "teacher-1", workID: 42, member: "t0")
        #expect(tokens.verify(token, worker: "teacher-1", workID: 42, member: "t0"))
        #expect(!tokens.verify(token, worker: "teacher-2", workID: 42, member: "t0"), "another teacher")
        #expect(!tokens.verify(token, worker: "teacher-1", workID: 43, member: "t0"), "another item")
        #expect(!tokens.verify(token, worker: "teacher-1", workID: 42, member: "t1"), "another member")
        #expect(!tokens.verify([], worker: "teacher-1", workID: 42, member: "t0"), "no token")
        #expect(!AssignmentToken(key: AssignmentToken.randomKey()).verify(token, worker: "teacher-1", workID: 42, member: "t0"), "another job's key")
        // The header must say what the job asks: its temperature, its rule, the item's shard.
        let plan = try ClusterHarness("fault-header").plan()
        let item = plan.item(3)!, positions = plan.positions(shard: item.shard)
        var header = SoftTargets(workID: 3, epoch: UInt32(item.epoch), shard: UInt32(item.shard), member: plan.members[item.member], temperature: 2,
                                 probabilities: true, ranges: [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))])
        #expect(SoftTargetMeaning.headerProblem(header, plan: plan, temperature: 2, probabilities: true) == nil)
        #expect(SoftTargetMeaning.headerProblem(header, plan: plan, temperature: 4, probabilities: true) == "item 3 comes at temperature 2.0, the job's is 4.0")
        #expect(SoftTargetMeaning.headerProblem(header, plan: plan, temperature: 2, probabilities: false)?.contains("the job combines logits") == true)
        header.ranges = [ShardRange(0, 1)]
        #expect(SoftTargetMeaning.headerProblem(header, plan: plan, temperature: 2, probabilities: true)?.contains("its shard is") == true)
        let fp32 = SoftTargetMeaning.tolerance(float16: false), fp16 = SoftTargetMeaning.tolerance(float16: true)
        #expect(SoftTargetMeaning.problem([0.25, 0.25, 0.5, 0, 0.1, 0.2, 0.3, 0.4], classes: 4, probabilities: true, tolerance: fp32) == nil)
        #expect(SoftTargetMeaning.problem([-0.5, 1.0, 0.25, 0.25], classes: 4, probabilities: true, tolerance: fp32)?.contains("outside [0, 1]") == true)
        #expect(SoftTargetMeaning.problem([0.25, 0.25, 0.25, 0.2], classes: 4, probabilities: true, tolerance: fp32)?.contains("sums to") == true)
        #expect(SoftTargetMeaning.problem([0.25, 0.25, 0.25, 0.2495], classes: 4, probabilities: true, tolerance: fp16) == nil)
        #expect(SoftTargetMeaning.problem([1, .nan, 0, 0], classes: 4, probabilities: false, tolerance: fp32) != nil)
        #expect(SoftTargetMeaning.problem([-40, 12, 3, 0], classes: 4, probabilities: false, tolerance: fp32) == nil, "logits may be anything finite")
    }

    // MARK: 8. names

    @Test func namesWithEscapesNeverReachTheLogOrTheTerminal() throws {
        let h = try ClusterHarness("fault-names")
        let (_, endpoint) = try h.startCoordinator()
        let evil = "x\u{1B}[2J\u{1B}[31mred\n2026-01-01T00:00:00Z coordinator info: job complete"
        let cli = try TestSupport.run(ClusterHarness.binary, ["teacher", "--coordinator", endpoint, "--name", evil], timeout: 30)
        #expect(cli.status != 0 && cli.stderr.contains("worker name"), "\(cli.stderr)")
        let context = Context()
        let peer = try Socket(context, .dealer)
        try peer.connect(endpoint)
        defer { peer.close() }
        try peer.send(WireMessage(Envelope(jobID: "test-job", sender: evil, kind: .hello(Hello(role: .teacher)))).frames())
        let answer = try h.waitFor("the coordinator's answer", timeout: 10) { () -> ReceivedMessage? in
            guard try Poller.readable([peer], timeoutMilliseconds: 100)[0], let frames = try peer.receive(dontWait: true) else { return nil }
            return try ReceivedMessage.parse(frames)
        }
        guard case let .error(code, text) = answer.envelope.kind else { Issue.record("expected an error, got \(answer.envelope.kind)"); return }
        #expect(code == .malformed && text.contains("worker name") && !text.contains("\u{1B}") && !text.contains("\n"), "\(text)")
        let status = try TestSupport.run(ClusterHarness.binary, ["status", "--coordinator", endpoint])
        #expect(!status.stdout.contains("\u{1B}"))
        h.processes["coordinator"]!.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
        let log = h.log("coordinator")
        #expect(!log.contains("\u{1B}"), "an escape sequence reached the log")
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("2026-01-01T00:00:00Z") }, "a forged line reached the log")
        #expect(log.contains("refused hellos with a bad worker name"))
    }

    // MARK: 9. metrics under slow clients

    @Test func aScrapeBehindTwentyIdleConnectionsAnswersAtOnce() throws {
        let h = try ClusterHarness("fault-metrics")
        let port = try TestSupport.freeTCPPort()
        _ = try h.startCoordinator(extra: ["--metrics", "127.0.0.1:\(port)"])
        _ = try h.waitFor("the metrics endpoint", timeout: 30) { try? HTTPGet.fetch(port: port) }
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<20 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(ok == 0)
            // Half of them send half a request and stall.
            if idle.count % 2 == 1 { _ = "GET /metr".withCString { write(fd, $0, strlen($0)) } }
            idle.append(fd)
        }
        let started = Date()
        let scrape = try HTTPGet.fetch(port: port, timeoutSeconds: 10)
        let seconds = Date().timeIntervalSince(started)
        #expect(scrape.status == 200 && scrape.body.contains("distillery_coordinator_work_items"))
        #expect(seconds < 2, "a scrape behind 20 idle connections took \(seconds) s")
        h.processes["coordinator"]!.terminate()
        #expect(try h.exitStatus("coordinator", timeout: 20) == 0)
    }

    // MARK: 10. data a job names but cannot have

    @Test func aMissingDataSetIsReportedWithTheJobFileAndLine() throws {
        let h = try ClusterHarness("fault-missing-data")
        let text = try String(contentsOfFile: h.jobPath, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("dataset:") }! + 1
        for (dataset, fragment) in [("idx:missing/", "missing"), ("npz:data", "data"), ("text:data", "feeds byte-level language models; the student")] {
            try text.replacingOccurrences(of: "dataset: idx:data/", with: "dataset: \(dataset)").write(toFile: h.jobPath, atomically: true, encoding: .utf8)
            do {
                _ = try JobContext.load(path: h.jobPath)
                Issue.record("\(dataset) was accepted")
            } catch let error as JobError {
                #expect(error.file == h.jobPath && error.line == line && error.message.hasPrefix("data.dataset:") && error.message.contains(fragment), "\(error)")
            }
        }
    }

    // MARK: 12. keys that mean who holds them

    @Test func keysBindRolesAndMembersAndAStolenWorkerKeyCannotStandUpACoordinator() throws {
        var settings = ClusterHarness.Settings()
        settings.encrypted = true
        let h = try ClusterHarness("fault-keys", settings)
        let keys = try #require(h.keysDirectory)
        // teacher-b's key may serve member t0 only.
        var allow = try ClusterAllowList.load("\(keys)/allow")
        var entry = try #require(allow.entry(named: "teacher-b"))
        entry.members = ["t0"]
        allow.set(entry)
        try allow.text.write(toFile: "\(keys)/allow", atomically: true, encoding: .utf8)
        // Each worker gets only what it needs: the coordinator's public key and its own pair (a student, the allow file).
        func workerKeys(_ name: String, allowFile: Bool) throws -> String {
            let dir = h.directory.appendingPathComponent("keys-\(name)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var files = ["coordinator.key", "\(name).key", "\(name).secret"]
            if allowFile { files.append("allow") }
            for file in files { try FileManager.default.copyItem(atPath: "\(keys)/\(file)", toPath: "\(dir)/\(file)") }
            return dir
        }
        let (_, endpoint) = try h.startCoordinator()
        func worker(_ role: String, _ name: String, keys: String, _ extra: [String] = []) throws {
            try h.start(name, [role, "--coordinator", endpoint, "--name", name, "--keys", keys, "--connect-timeout", "8"] + extra)
        }
        // A teacher's key cannot register as a student, nor serve a member its line does not list.
        try worker("student", "teacher-a", keys: try workerKeys("teacher-a", allowFile: true))
        #expect(try h.exitStatus("teacher-a", timeout: 30) != 0)
        #expect(h.log("teacher-a").contains("may act as a teacher, not as a student"), "\(h.log("teacher-a"))")
        try worker("teacher", "teacher-b", keys: try workerKeys("teacher-b", allowFile: false), ["--members", "t1"])
        #expect(try h.exitStatus("teacher-b", timeout: 30) != 0)
        #expect(h.log("teacher-b").contains("may not serve member 't1'"), "\(h.log("teacher-b"))")
        // The job completes with workers that hold no coordinator secret.
        try worker("teacher", "teacher", keys: try workerKeys("teacher", allowFile: false))
        try worker("student", "student", keys: try workerKeys("student", allowFile: true))
        #expect(try h.exitStatus("coordinator", timeout: 120) == 0, "coordinator: \(h.log("coordinator").suffix(1500))")
        #expect(try h.exitStatus("student", timeout: 30) == 0, "student: \(h.log("student").suffix(1500))")

        // A stolen worker key (all a worker's files) cannot stand up a coordinator that workers accept.
        let fake = h.directory.appendingPathComponent("stolen").path
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        let stolen = try workerKeys("teacher-1", allowFile: true)
        try FileManager.default.copyItem(atPath: "\(stolen)/teacher-1.secret", toPath: "\(fake)/coordinator.secret")
        try FileManager.default.copyItem(atPath: "\(stolen)/teacher-1.key", toPath: "\(fake)/coordinator.key")
        try FileManager.default.copyItem(atPath: "\(stolen)/allow", toPath: "\(fake)/allow")
        let fakeJob = h.directory.appendingPathComponent("fake-job.yaml").path
        try (try String(contentsOfFile: h.jobPath, encoding: .utf8)).replacingOccurrences(of: "keys: keys", with: "keys: stolen")
            .replacingOccurrences(of: "dir: out", with: "dir: fake-out").write(toFile: fakeJob, atomically: true, encoding: .utf8)
        let impostor = try h.start("impostor", ["coordinator", "--job", fakeJob, "--bind", "tcp://127.0.0.1:*", "--state", "\(h.directory.path)/fake-state"])
        let fakeEndpoint = try h.waitFor("the impostor's endpoint", timeout: 30) { () -> String? in
            (try? String(contentsOfFile: "\(h.directory.path)/fake-state/endpoint", encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        try h.start("victim", ["student", "--coordinator", fakeEndpoint, "--name", "student-1", "--keys", try workerKeys("student-1", allowFile: true),
                               "--connect-timeout", "4"])
        #expect(try h.exitStatus("victim", timeout: 30) != 0)
        #expect(h.log("victim").contains("no welcome from the coordinator"), "\(h.log("victim"))")
        #expect(!h.log("impostor").contains("is replica"), "the impostor registered a worker: \(h.log("impostor"))")
        impostor.terminate()
        #expect(try h.exitStatus("impostor", timeout: 20) == 0)
    }

    // MARK: 13. a local job can be watched

    @Test func aLocalRunGivesEveryDaemonAMetricsPortAndWritesTheTargets() throws {
        var settings = ClusterProcessTests.slowJob
        settings.epochs = 2000
        let h = try ClusterHarness("fault-run-metrics", settings)
        let run = try h.start("run", ["run", h.jobPath, "--metrics", "127.0.0.1:0"])
        let targets = "\(h.output)/prometheus-targets"
        let files = try h.waitFor("the Prometheus targets", timeout: 90) { () -> [String: String]? in
            let texts = ["coordinator", "teachers", "students"].compactMap { name in
                (try? String(contentsOfFile: "\(targets)/\(name).yml", encoding: .utf8)).map { (name, $0) }
            }
            return texts.count == 3 ? Dictionary(uniqueKeysWithValues: texts) : nil
        }
        for (name, text) in files {
            let ports = text.components(separatedBy: "127.0.0.1:").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
            #expect(ports.count == 1, "\(name): \(text)")
            for port in ports {
                let scrape = try HTTPGet.fetch(port: port)
                #expect(scrape.status == 200 && scrape.body.contains(name == "coordinator" ? "distillery_coordinator_" : name == "teachers" ? "distillery_teacher_" : "distillery_student_"),
                        "\(name) at :\(port) answered \(scrape.status)")
            }
        }
        if let promtool = TestSupport.which("promtool") {
            let dir = URL(fileURLWithPath: h.output)
            try FileManager.default.copyItem(at: MetricsProcessTests.repository.appendingPathComponent("ops/prometheus.yml"), to: dir.appendingPathComponent("prometheus.yml"))
            let check = try TestSupport.run(promtool, ["check", "config", dir.appendingPathComponent("prometheus.yml").path])
            #expect(check.status == 0, "promtool: \(check.stdout) \(check.stderr)")
        }
        run.terminate()
        #expect(try h.exitStatus("run", timeout: 30) == 130)
    }
}
