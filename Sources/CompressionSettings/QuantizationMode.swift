/// How a model becomes int8: post-training quantization (calibrate and round, the default) or quantization-aware
/// training (fine-tune through fake quantization).
public enum QuantizationMode: String, Sendable, CaseIterable {
    case ptq, qat
    public static let `default` = QuantizationMode.ptq
}
