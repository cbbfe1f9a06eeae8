/// Bounds on everything a peer can make us allocate or parse.
public struct WireLimits: Sendable {
    /// Largest envelope frame accepted.
    public var maximumHeaderBytes = 64 * 1024
    /// Bytes the decoder may allocate while unpacking one envelope (small inputs can expand a lot).
    public var unpackBudgetBytes = 1 << 20
    public var maximumTensors = 1024
    public var maximumRank = 8
    /// Largest tensor frame accepted (also set as ZMQ_MAXMSGSIZE on sockets).
    public var maximumTensorBytes = 1 << 30
    /// Longest identifier (job id, sender, names) and longest free text (error messages, JSON).
    public var maximumIdentifierBytes = 256
    public var maximumTextBytes = 1 << 20
    public var maximumRepeated = 4096

    public init() {}

    public static let standard = WireLimits()

    static func checkedProduct(_ shape: [Int]) -> Int? {
        var p = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: d)
            if o { return nil }
            p = r
        }
        return p
    }
}
