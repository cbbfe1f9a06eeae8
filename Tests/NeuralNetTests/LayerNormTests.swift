import Compute
import Foundation
import Testing
import TestSupport
@testable import NeuralNet

/// LayerNorm: gradients against finite differences; values and every gradient against PyTorch's nn.LayerNorm.
@Suite struct LayerNormTests {
    func layer(seed: UInt64) -> LayerNorm {
        let norm = LayerNorm(features: 6)
        norm.weight.value = GradientCheck.randomTensor([6], seed: seed, scale: 1)
        norm.bias.value = GradientCheck.randomTensor([6], seed: seed + 1, scale: 1)
        return norm
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = GradientCheck.randomTensor([2, 3, 6], seed: 11, scale: 2)
        let mismatches = GradientCheck.check(layer(seed: 3), input: x, epsilon: 1e-2, tolerance: 2e-2)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
    }

    /// oneDNN's layer normalization against the plain loops (the reference twin), both directions.
    @Test func oneDNNMatchesTheReferenceLoops() {
        let fast = layer(seed: 4), slow = layer(seed: 4)
        slow.usesReferencePath = true
        let x = GradientCheck.randomTensor([3, 7, 6], seed: 12, scale: 3), dy = GradientCheck.randomTensor([3, 7, 6], seed: 13)
        let (a, b) = (fast.forward(x, training: true), slow.forward(x, training: true))
        #expect(zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let (da, db) = (fast.backward(dy, needInputGradient: true)!, slow.backward(dy, needInputGradient: true)!)
        #expect(zip(da.scalars, db.scalars).allSatisfy { abs($0 - $1) < 1e-4 })
        for (p, q) in [(fast.weight, slow.weight), (fast.bias, slow.bias)] {
            #expect(zip(p.grad.scalars, q.grad.scalars).allSatisfy { abs($0 - $1) < 1e-4 }, "\(p.name)")
        }
    }

    @Test func aWrongLastAxisIsAnError() {
        #expect(throws: NeuralNetError.self) { try LayerNorm(features: 6).outputShape(for: [4, 5]) }
    }

    @Test func valuesAndGradientsAgreeWithPyTorch() throws {
        let norm = layer(seed: 3)
        let x = GradientCheck.randomTensor([4, 6], seed: 21, scale: 2)
        let upstream = GradientCheck.randomTensor([4, 6], seed: 22, scale: 1)
        let script = """
            import torch, json
            n = torch.nn.LayerNorm(6)
            with torch.no_grad():
                n.weight.copy_(torch.tensor(\(norm.weight.value.scalars)))
                n.bias.copy_(torch.tensor(\(norm.bias.value.scalars)))
            x = torch.tensor(\(x.scalars), requires_grad=True).reshape(4, 6)
            x.retain_grad()
            y = n(x)
            y.backward(torch.tensor(\(upstream.scalars)).reshape(4, 6))
            print(json.dumps([y.flatten().tolist(), x.grad.flatten().tolist(), n.weight.grad.tolist(), n.bias.grad.tolist()]))
            """
        guard let result = try TestSupport.python(script, needs: ["torch"]) else { return }
        #expect(result.status == 0, "\(result.stderr)")
        let torch = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Double]])
        let y = norm.forward(x, training: true)
        let dx = try #require(norm.backward(upstream, needInputGradient: true))
        for (name, ours, theirs) in [("output", y.scalars, torch[0]), ("input gradient", dx.scalars, torch[1]),
                                     ("weight gradient", norm.weight.grad.scalars, torch[2]), ("bias gradient", norm.bias.grad.scalars, torch[3])] {
            #expect(ours.count == theirs.count)
            for (a, b) in zip(ours, theirs) { #expect(abs(Double(a) - b) <= 1e-4 * max(1, abs(b)), "\(name): \(a) vs torch \(b)") }
        }
    }
}
