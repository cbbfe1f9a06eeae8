import Foundation
import Testing
import TestSupport

/// The load benchmark as a check: 200 simulated workers speak the real protocol to a real coordinator process,
/// every one joins, none is refused, and the work keeps flowing. (Its latency figures are the benchmark's to print,
/// not a test's to time.)
@Suite(.serialized) struct CoordinatorLoadTests {
    @Test func twoHundredSimulatedWorkersAreServed() throws {
        let result = try TestSupport.run(TestSupport.distilleryBinary, ["bench", "coordinator", "--workers", "200", "--seconds", "2",
                                                                         "--work-ms", "50", "--json"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(summary["workers"] as? Int == 200 && summary["errors"] as? Int == 0, "\(summary)")
        // Each worker holds an item 50 ms: in 2 s the 200 of them turn several thousand between them.
        #expect((summary["assignments"] as? Int ?? 0) > 1000, "\(summary)")
        let p50 = try #require(summary["p50_ms"] as? Double), p99 = try #require(summary["p99_ms"] as? Double)
        #expect(p50 > 0 && p50 <= p99, "\(summary)")
    }
}
