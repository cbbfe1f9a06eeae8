/// What a command or a job asks of the input normalisation: none, one fitted to the training set (auto), or a
/// fixed MEAN,STD. Its default, none, is written here once.
public enum NormalizationSetting: Sendable, Equatable, CustomStringConvertible {
    case none
    case auto
    case fixed(Normalization)

    public static let `default` = NormalizationSetting.none

    /// `none`, `auto` or `MEAN,STD` (`M1/M2/M3,S1/S2/S3`).
    public init(parsing text: String) throws {
        switch text {
        case "none": self = .none
        case "auto": self = .auto
        default: self = .fixed(try Normalization(parsing: text))
        }
    }

    /// The normalisation itself, fitting it to `data` when the setting is auto.
    public func resolve(fittingTo data: @autoclosure () -> LabeledImages) -> Normalization? {
        switch self {
        case .none: return nil
        case .auto: return Normalization.fitted(to: data())
        case let .fixed(n): return n
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .auto: return "auto"
        case let .fixed(n): return n.text
        }
    }
}
