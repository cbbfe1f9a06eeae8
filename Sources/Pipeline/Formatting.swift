import Foundation

/// `value` with `digits` decimals, as the tables print figures.
public func formatted(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}

/// Bytes on disk; 0 when the file cannot be read.
public func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
}
