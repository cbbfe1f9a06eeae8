#if canImport(Glibc)
import Glibc
#endif

/// C memory for one protobuf-c encode: every block is freed together when the arena goes away.
public final class CArena {
    public init() {}
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for b in blocks { free(b) } }

    public func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(p)
        return p
    }

    public func optionalString(_ s: String?) -> UnsafeMutablePointer<CChar>? { s.map(string) }

    /// A heap copy of `value`.
    public func new<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A C array of `values` (nil when empty, as protobuf-c expects for n == 0).
    public func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        p.initialize(from: values, count: values.count)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    public func strings(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        array(values.map { Optional(string($0)) })
    }
}
