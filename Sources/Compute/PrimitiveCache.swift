import Foundation

/// oneDNN primitives by geometry, made once per process: creating one costs far more than running it. A geometry
/// oneDNN has no implementation for is remembered too, so callers fall back at once. Past `capacity` entries (many
/// batch sizes) it starts over rather than hold every primitive's buffers.
final class PrimitiveCache<Key: Hashable, Value: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private let capacity: Int
    private var made: [Key: Value] = [:]
    private var unavailable: Set<Key> = []

    init(capacity: Int) { self.capacity = capacity }

    func value(for key: Key, make: (Key) -> Value?) -> Value? {
        lock.lock()
        defer { lock.unlock() }
        if let hit = made[key] { return hit }
        if unavailable.contains(key) { return nil }
        guard let value = make(key) else { unavailable.insert(key); return nil }
        if made.count >= capacity { made.removeAll() }
        made[key] = value
        return value
    }
}
