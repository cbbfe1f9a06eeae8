import Compute

/// Takes over a Linear's or Conv2d's forward and backward: the int8 runtime's kernels, calibration's recorders and
/// quantization-aware training's fake quantization sit inside a tree this way, wherever its Linears are (a
/// Sequential, a residual block, attention's projections), without the containers knowing.
public protocol LayerOverride: AnyObject {
    /// `own` runs the layer's own forward in the same mode.
    func forward(_ x: Tensor, training: Bool, own: (Tensor) -> Tensor) -> Tensor
    /// `own` runs the layer's own backward.
    func backward(_ dy: Tensor, needInputGradient: Bool, own: (Tensor) -> Tensor?) -> Tensor?
}

extension LayerOverride {
    public func backward(_ dy: Tensor, needInputGradient: Bool, own: (Tensor) -> Tensor?) -> Tensor? { own(dy) }
}

/// A layer whose passes a `LayerOverride` can take over.
public protocol Overridable: Layer {
    var layerOverride: LayerOverride? { get set }
}
