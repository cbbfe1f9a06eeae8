/// How a layer's input is calibrated to uint8: the clip that sets the grid.
public enum CalibrationRule: String, CaseIterable, Sendable {
    /// The largest magnitude seen.
    case minmax
    /// The 99.99th percentile of the magnitudes: a few outliers no longer stretch the grid.
    case percentile
    /// The clipping value that minimises the mean squared quantization error over the sample.
    case mse
}
