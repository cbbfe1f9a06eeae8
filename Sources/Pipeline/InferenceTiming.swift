import Compute
import Dispatch

/// Times an inference function: one round runs it for at least `seconds`; rates in samples/s.
public enum InferenceTiming {
    public static func round(_ forward: (Tensor) throws -> Tensor, input: Tensor, seconds: Double) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var passes = 0, elapsed = 0.0
        repeat {
            _ = try forward(input)
            passes += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(passes * input.shape[0]) / elapsed
    }

    public static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
