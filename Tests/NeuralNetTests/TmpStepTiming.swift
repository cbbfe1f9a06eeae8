import Testing
import Dispatch
import Compute
@testable import NeuralNet

@Test func tmpLinearTiming() throws {
    ComputeThreads.set(2)
    var rng = SeededRandom(seed: 1)
    let layer = Linear(784, 1200, rng: &rng)
    let x = Tensor(shape: [128, 784], scalars: (0..<(128*784)).map { _ in rng.nextFloat() })
    let dy = Tensor(shape: [128, 1200], scalars: (0..<(128*1200)).map { _ in rng.nextFloat() })
    var t: [Double] = []
    for _ in 0..<30 {
        _ = layer.forward(x, training: true)
        let s = DispatchTime.now().uptimeNanoseconds
        _ = layer.backward(dy, needInputGradient: false)
        t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e3)
    }
    print("TIMING linear1 backward \(t.sorted()[15]) us")
}
