import Monitoring
import Wire

/// Bytes and messages on one daemon's sockets, both directions.
public struct WireMetrics: Sendable {
    let bytesSent: Counter, bytesReceived: Counter
    let messagesSent: Counter, messagesReceived: Counter, messagesRefused: Counter

    init(_ r: MetricsRegistry) {
        bytesSent = r.counter("wire_sent", unit: "bytes_total", "Bytes this daemon sent over ZeroMQ (every frame)")
        bytesReceived = r.counter("wire_received", unit: "bytes_total", "Bytes this daemon received over ZeroMQ (every frame)")
        messagesSent = r.counter("messages_sent", "Messages sent")
        messagesReceived = r.counter("messages_received", "Messages received and accepted")
        messagesRefused = r.counter("messages_refused", "Messages refused: malformed, unauthorised or for another job")
    }

    func sent(_ frames: [OutgoingFrame]) {
        messagesSent.increment()
        bytesSent.increment(by: Int64(frames.byteCount))
    }

    func received(bytes: Int, accepted: Bool) {
        bytesReceived.increment(by: Int64(bytes))
        (accepted ? messagesReceived : messagesRefused).increment()
    }
}

public final class CoordinatorMetrics: Sendable {
    public let registry = MetricsRegistry(subsystem: "coordinator")
    let wire: WireMetrics
    let teachers: Gauge, students: Gauge
    let itemsTotal: Gauge, itemsDone: Gauge, itemsHeld: Gauge, itemsOpen: Gauge
    let assignments: Counter, assignmentLatency: ValueHistogram
    let heartbeats: Counter, leaseExpiries: Counter, requeued: Counter, duplicateReceipts: Gauge, refusedReceipts: Counter
    let progress: Gauge, samplesPerSecond: Gauge, etaSeconds: Gauge

    public init() {
        let r = registry
        wire = WireMetrics(r)
        teachers = r.gauge("workers", "Registered workers", labels: [("role", "teacher")])
        students = r.gauge("workers", "Registered workers", labels: [("role", "student")])
        itemsTotal = r.gauge("work_items", "Work items of the job: (epoch, shard, member)")
        itemsDone = r.gauge("work_items_done", "Work items every student replica has received (exactly once in the ledger)")
        itemsHeld = r.gauge("work_items_held", "Queue depth: items assigned to teachers and not yet received by every student")
        itemsOpen = r.gauge("work_items_open", "Queue depth: items waiting for a teacher")
        assignments = r.counter("assignments", "Work items handed to teachers (re-assignments included)")
        assignmentLatency = r.histogram("assignment_latency", unit: "seconds", "From a teacher's work request to its assignment",
                                        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1])
        heartbeats = r.counter("heartbeats_received", "Heartbeats from workers")
        leaseExpiries = r.counter("lease_expiries", "Workers dropped because their lease ran out (silent for lease_ms)")
        requeued = r.counter("items_requeued", "Work items put back in the queue (lease lost, worker left, delivery never confirmed)")
        duplicateReceipts = r.gauge("duplicate_receipts", "Deliveries a student acknowledged again (ignored by the ledger)")
        refusedReceipts = r.counter("receipts_refused", "Receipts for items never assigned (forged progress), not recorded")
        progress = r.gauge("progress", unit: "ratio", "Fraction of the job's work items done")
        samplesPerSecond = r.gauge("samples_per_second", "Samples the students train per second (the slowest replica)")
        etaSeconds = r.gauge("eta", unit: "seconds", "Estimated time to the end of the job")
    }
}

public final class TeacherMetrics: Sendable {
    public let registry = MetricsRegistry(subsystem: "teacher")
    let wire: WireMetrics
    let itemsDone: Counter, samples: Counter, softTargetBytes: Counter
    let queueDepth: Gauge, samplesPerSecond: Gauge, computeSeconds: Counter, heartbeats: Counter

    public init() {
        let r = registry
        wire = WireMetrics(r)
        itemsDone = r.counter("items_done", "Work items computed and sent to the students")
        samples = r.counter("samples", "Samples the ensemble members ran on (soft targets produced)")
        softTargetBytes = r.counter("soft_targets_sent", unit: "bytes_total", "Bytes of soft-target tensors sent to students")
        queueDepth = r.gauge("queue_depth", "Assigned work items waiting in this worker")
        samplesPerSecond = r.gauge("samples_per_second", "Soft targets per second over the last item")
        computeSeconds = r.counter("compute", unit: "seconds_total", "Seconds spent running the members")
        heartbeats = r.counter("heartbeats_sent", "Heartbeats sent to the coordinator")
    }
}

public final class StudentMetrics: Sendable {
    public let registry = MetricsRegistry(subsystem: "student")
    let wire: WireMetrics
    let steps: Counter, samples: Counter, epoch: Gauge, samplesPerSecond: Gauge
    let loss: Gauge, kl: Gauge, crossEntropy: Gauge, testAccuracy: Gauge
    let pendingItems: Gauge, softTargetBytes: Counter, gradientBytes: Counter
    let waitTargetsSeconds: Counter, waitPeersSeconds: Counter, cacheHits: Counter, heartbeats: Counter

    public init() {
        let r = registry
        wire = WireMetrics(r)
        steps = r.counter("steps", "Optimizer steps taken")
        samples = r.counter("samples", "Samples this replica trained on")
        epoch = r.gauge("epoch", "The epoch being trained (from 1)")
        samplesPerSecond = r.gauge("samples_per_second", "Samples per second over the epoch so far (all replicas' batch)")
        let lossHelp = "Distillation loss of the last step: alpha T^2 KL + (1 - alpha) CE, and its parts"
        loss = r.gauge("loss", lossHelp, labels: [("part", "total")])
        kl = r.gauge("loss", lossHelp, labels: [("part", "kl")])
        crossEntropy = r.gauge("loss", lossHelp, labels: [("part", "cross_entropy")])
        testAccuracy = r.gauge("test_accuracy", unit: "ratio", "Test accuracy after the last finished epoch (replica 0)")
        pendingItems = r.gauge("queue_depth", "Soft-target deliveries received and not yet trained on")
        softTargetBytes = r.counter("soft_targets_received", unit: "bytes_total", "Bytes of soft-target tensors received")
        gradientBytes = r.counter("gradients_exchanged", unit: "bytes_total", "Bytes of gradients sent to and received from peer replicas")
        waitTargetsSeconds = r.counter("waiting_for_targets", unit: "seconds_total", "Seconds spent waiting for soft targets")
        waitPeersSeconds = r.counter("waiting_for_peers", unit: "seconds_total", "Seconds spent waiting for peer replicas' gradients")
        cacheHits = r.counter("soft_target_cache_hits", "Samples trained on cached soft targets (no teacher work)")
        heartbeats = r.counter("heartbeats_sent", "Heartbeats sent to the coordinator")
    }
}
