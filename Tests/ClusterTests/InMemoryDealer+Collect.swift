import Cluster
import Foundation
import Testing
import Wire

extension InMemoryDealer {
    /// Everything the worker on this dealer sent until `until` holds of it; records an issue naming `worker` after
    /// `timeout` seconds.
    func collectSent(by worker: String, timeout: Double, until: ([ReceivedMessage]) -> Bool) throws -> [ReceivedMessage] {
        var all: [ReceivedMessage] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            all += try takeSent()
            if until(all) { return all }
            Thread.sleep(forTimeInterval: 0.002)
        }
        Issue.record("the \(worker) did not send what was expected; it sent \(all.map(\.envelope.kind))")
        return all
    }
}
