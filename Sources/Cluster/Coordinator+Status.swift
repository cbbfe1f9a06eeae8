import Foundation

/// The coordinator's answer to `distillery status`.
extension Coordinator {
    /// How far the slowest student is: the fraction of all epochs' samples, its rate, and the time left.
    func trainingProgress() -> (fraction: Double, samplesPerSecond: Double?, etaSeconds: Double?) {
        let plan = job.plan
        let total = Double(plan.epochs * plan.sampleCount)
        let students = workers.values.filter { $0.role == .student }
        let positions: [Double] = students.map { w in
            let epoch = Int(w.progress?.epoch ?? 0), done = Int(w.progress?.samplesDone ?? 0)
            return Double(epoch * plan.sampleCount + done)
        }
        let done = positions.min() ?? 0
        let rate = students.compactMap { w in w.progress?.samplesPerSecond.map(Double.init) }.min()
        var eta: Double?
        if let rate, rate > 0 { eta = (total - done) / rate }
        return (total > 0 ? min(1, done / total) : 1, rate, eta)
    }

    func statusJSON(now: Double) -> String {
        let plan = job.plan
        let training = trainingProgress()
        let workerStatus = workers.values.sorted { $0.id < $1.id }.map { w in workerJSON(w, now: now) }
        let status = ClusterStatus(
            job: job.spec.name, state: state.status, epochs: plan.epochs, itemsTotal: plan.itemCount,
            itemsDone: scheduler.done.count, itemsHeld: scheduler.heldCount, duplicateReceipts: state.duplicateReceipts,
            progress: training.fraction, samplesPerSecond: training.samplesPerSecond, etaSeconds: training.etaSeconds,
            uptimeSeconds: now - started, workers: workerStatus, epochResults: (try? state.epochs()) ?? [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(status), as: UTF8.self)) ?? "{}"
    }

    private func workerJSON(_ w: Worker, now: Double) -> ClusterStatus.Worker {
        let inFlight = scheduler.owner.values.filter { $0 == w.id }.count
        let p = w.progress
        return ClusterStatus.Worker(
            id: w.id, role: w.role == .teacher ? "teacher" : "student", name: w.name,
            members: w.members.sorted().map { job.plan.members[$0] }, leaseRemainingMs: Int((w.leaseDeadline - now) * 1000),
            itemsDone: w.itemsDone, inFlight: inFlight, replica: w.replica,
            epoch: p.map { Int($0.epoch) }, samplesDone: p.map { Int($0.samplesDone) },
            loss: p?.loss.map(Double.init), samplesPerSecond: p?.samplesPerSecond.map(Double.init))
    }
}

/// The gauges a scrape reads; counters move where the events happen.
extension Coordinator {
    func updateGauges() {
        let training = trainingProgress()
        metrics.teachers.set(Double(workers.values.filter { $0.role == .teacher }.count))
        metrics.students.set(Double(workers.values.filter { $0.role == .student }.count))
        metrics.itemsTotal.set(Double(job.plan.itemCount))
        metrics.itemsDone.set(Double(scheduler.done.count))
        metrics.itemsHeld.set(Double(scheduler.heldCount))
        metrics.itemsOpen.set(Double(job.plan.itemCount - scheduler.done.count - scheduler.heldCount))
        metrics.duplicateReceipts.set(Double(state.duplicateReceipts))
        metrics.progress.set(Double(scheduler.done.count) / Double(max(job.plan.itemCount, 1)))
        metrics.samplesPerSecond.set(training.samplesPerSecond ?? 0)
        metrics.etaSeconds.set(training.etaSeconds ?? 0)
    }
}
