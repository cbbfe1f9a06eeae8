import Compute
import Foundation
import Testing
import TestSupport
@testable import NeuralNet

/// GELU (both forms) and SiLU: gradients against finite differences, values and gradients against PyTorch.
@Suite struct SmoothActivationTests {
    static let names = ["gelu", "gelu-tanh", "silu"]

    static func make(_ name: String) -> Layer {
        switch name {
        case "gelu": return GELU()
        case "gelu-tanh": return GELU(approximation: .tanh)
        default: return SiLU()
        }
    }

    @Test(arguments: SmoothActivationTests.names) func gradientsMatchFiniteDifferences(name: String) {
        let x = GradientCheck.randomTensor([4, 7], seed: 5, scale: 3)
        let mismatches = GradientCheck.check(Self.make(name), input: x, epsilon: 1e-2, tolerance: 1e-2)
        #expect(mismatches.isEmpty, "\(name): \(mismatches.prefix(3))")
    }

    /// oneDNN's eltwise kernels against the formulas (the reference twin).
    @Test(arguments: SmoothActivationTests.names) func oneDNNMatchesTheFormulas(name: String) {
        let fast = Self.make(name), slow = Self.make(name)
        if let gelu = slow as? GELU { gelu.usesReferencePath = true }
        if let silu = slow as? SiLU { silu.usesReferencePath = true }
        let x = GradientCheck.randomTensor([5, 301], seed: 6, scale: 6), dy = GradientCheck.randomTensor([5, 301], seed: 7)
        let (a, b) = (fast.forward(x, training: true), slow.forward(x, training: true))
        #expect(zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(name) values")
        let (da, db) = (fast.backward(dy, needInputGradient: true)!, slow.backward(dy, needInputGradient: true)!)
        #expect(zip(da.scalars, db.scalars).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(name) gradients")
    }

    @Test func valuesAndGradientsAgreeWithPyTorch() throws {
        let x = (0..<41).map { Float($0 - 20) / 4 }  // -5 ... 5
        let script = """
            import torch, json
            x = torch.tensor(\(x), dtype=torch.float32, requires_grad=True)
            out = {}
            for name, f in [("gelu", lambda t: torch.nn.functional.gelu(t)), ("gelu-tanh", lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
                            ("silu", torch.nn.functional.silu)]:
                x.grad = None
                y = f(x)
                y.sum().backward()
                out[name] = [y.tolist(), x.grad.tolist()]
            print(json.dumps(out))
            """
        guard let result = try TestSupport.python(script, needs: ["torch"]) else { return }
        #expect(result.status == 0, "\(result.stderr)")
        let reference = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [[Double]]])
        for name in Self.names {
            let layer = Self.make(name)
            let input = Tensor(shape: [1, x.count], scalars: x)
            let y = layer.forward(input, training: true)
            let dx = try #require(layer.backward(Tensor(shape: [1, x.count], scalars: [Float](repeating: 1, count: x.count)), needInputGradient: true))
            let torch = try #require(reference[name])
            for i in 0..<x.count {
                #expect(abs(Double(y.scalars[i]) - torch[0][i]) < 1e-5, "\(name)(\(x[i])): \(y.scalars[i]) vs torch \(torch[0][i])")
                #expect(abs(Double(dx.scalars[i]) - torch[1][i]) < 1e-5, "\(name)'(\(x[i])): \(dx.scalars[i]) vs torch \(torch[1][i])")
            }
        }
    }
}
