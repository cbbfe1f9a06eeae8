import Foundation
import Pipeline
import Synchronization
import Testing
import TestSupport

/// `distillery run`'s pipeline called as a library, as tests and other programs do: events out, typed errors.
@Suite struct PipelineLibraryTests {
    final class Events: Sendable {
        let list = Mutex<[PipelineEvent]>([])
        var all: [PipelineEvent] { list.withLock { $0 } }
        func control(stop: @escaping @Sendable () -> Bool = { false }) -> RunControl {
            RunControl(emit: { event in self.list.withLock { $0.append(event) } }, shouldStop: stop)
        }
    }

    @Test func aJobRunsThroughTheLibraryAndReportsByEvents() throws {
        var settings = ClusterHarness.Settings()
        settings.trainSamples = 1200
        settings.testSamples = 300
        settings.epochs = 2
        let h = try ClusterHarness("pipeline-run", settings)
        let events = Events()
        var run = try JobRun(jobFile: h.jobPath, control: events.control())
        run.executable = ClusterHarness.binary
        let results = try run.run()
        #expect(results.rows.map(\.model) == ["teacher t0", "teacher t1", "ensemble (2, probabilities)", "student distilled"])
        // The blobs are easy: a distilled student that learnt anything is far above chance (25 %).
        #expect(results.rows.last!.testAccuracy > 0.6, "\(results.rows)")
        #expect(FileManager.default.fileExists(atPath: "\(h.output)/student.safetensors"))
        #expect(FileManager.default.fileExists(atPath: "\(h.output)/results.json"))
        let statuses = events.all.compactMap { if case let .status(s) = $0 { s } else { nil } }
        #expect(statuses.contains { $0.hasPrefix("cluster up: coordinator tcp://127.0.0.1:") }, "\(statuses)")
        let tables = events.all.compactMap { if case let .table(t) = $0 { t } else { nil } }
        #expect(tables.count == 1 && tables[0].contains("| student distilled"), "\(tables)")
    }

    @Test func aCoordinatorThatCannotStartIsATypedError() throws {
        let h = try ClusterHarness("pipeline-no-coordinator")
        var run = try JobRun(jobFile: h.jobPath, control: Events().control())
        run.executable = "/bin/false"
        #expect(throws: PipelineError.coordinatorDidNotStart(log: "")) { try run.distil() }
    }

    @Test func aStopRequestEndsTheRunAsStopped() throws {
        let h = try ClusterHarness("pipeline-stop")
        let run = try JobRun(jobFile: h.jobPath, control: Events().control(stop: { true }))
        let error = #expect(throws: PipelineError.self) { try run.run() }
        #expect(error == .stopped && error?.exitCode == 130)
        #expect(!FileManager.default.fileExists(atPath: "\(h.output)/student.safetensors"))
    }
}
