import Wire

/// What soft targets must be to be trained on: the encoding's promise, checked row by row before a student
/// takes a delivery (a teacher's bug or a forger's values never reach the loss).
public enum SoftTargetMeaning {
    /// Why a delivery's header does not describe what the student's job asks of item `workID`, or nil: the job's
    /// temperature, its combine rule (probabilities or logits) and the item's shard as one range of positions.
    public static func headerProblem(_ s: SoftTargets, plan: WorkPlan, temperature: Float, probabilities: Bool) -> String? {
        guard let item = plan.item(s.workID) else { return "item \(s.workID) is not in the job" }
        guard s.temperature == temperature else {
            return "item \(s.workID) comes at temperature \(s.temperature), the job's is \(temperature)"
        }
        guard s.probabilities == probabilities else {
            return "item \(s.workID) holds \(s.probabilities ? "probabilities" : "logits"), the job combines \(probabilities ? "probabilities" : "logits")"
        }
        let positions = plan.positions(shard: item.shard)
        guard s.ranges == [ShardRange(UInt64(positions.lowerBound), UInt64(positions.upperBound))] else {
            return "item \(s.workID) covers \(s.ranges.map { "\($0.begin)..<\($0.end)" }), its shard is \(positions)"
        }
        return nil
    }

    /// Why `values` (rows, classes) are not valid soft targets, or nil. Probabilities: every value in [0, 1] and
    /// every row summing to 1, within `tolerance` (the wire's rounding: fp16 needs more than fp32). Logits: finite.
    public static func problem(_ values: [Float], classes: Int, probabilities: Bool, tolerance: Float) -> String? {
        precondition(classes > 0 && values.count % classes == 0)
        for row in 0..<(values.count / classes) {
            let slice = values[(row * classes)..<((row + 1) * classes)]
            if let bad = slice.first(where: { !$0.isFinite }) { return "row \(row) holds \(bad)" }
            guard probabilities else { continue }
            if let bad = slice.first(where: { $0 < -tolerance || $0 > 1 + tolerance }) {
                return "row \(row) holds the probability \(bad), outside [0, 1]"
            }
            let sum = slice.reduce(0, +)
            guard abs(sum - 1) <= tolerance else { return "row \(row) sums to \(sum), not 1" }
        }
        return nil
    }

    /// The rounding a wire encoding allows in a row of probabilities: fp16 keeps 11 significant bits, so each value
    /// and the row's sum move by at most 2^-11 (relative); fp32 sums of a few hundred values stay within 1e-5.
    public static func tolerance(float16: Bool) -> Float { float16 ? 5e-3 : 1e-4 }
}
