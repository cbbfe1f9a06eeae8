import Cluster
import Foundation
import Testing
import Wire

/// The worker's side of the control channel, in process.
@Suite struct ControlChannelTests {
    func channel() throws -> ControlChannel {
        // Nobody listens there: heartbeats queue and are dropped, as with a coordinator that is down.
        try ControlChannel(coordinator: "tcp://127.0.0.1:9", name: "probe", security: ClusterSecurity(keysDirectory: nil, keyName: nil),
                           context: Context(), coordinatorTimeout: 600, log: DaemonLog("probe"))
    }

    /// The work runs on another thread and comes back whole, errors too; over and over, the thread handing the closure
    /// back late never traps (it did, under load, when the closure was borrowed with withoutActuallyEscaping).
    @Test func keepAliveRunsWorkBesideTheHeartbeats() throws {
        let c = try channel()
        c.heartbeatInterval = 0.001
        for i in 0..<300 { #expect(try c.keepAlive(Heartbeat()) { i * 2 } == i * 2) }
        let started = Date()
        let slow = try c.keepAlive(Heartbeat()) { () -> Int in Thread.sleep(forTimeInterval: 0.2); return 7 }
        #expect(slow == 7 && Date().timeIntervalSince(started) >= 0.2)
        struct Boom: Error {}
        #expect(throws: Boom.self) { try c.keepAlive(Heartbeat()) { () -> Int in throw Boom() } }
    }
}
