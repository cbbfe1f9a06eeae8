import CDistilleryProto
#if canImport(Glibc)
import Glibc
#endif

/// A ProtobufCAllocator that refuses to allocate past a budget, so a small hostile envelope cannot make
/// the unpacker expand it into a large heap (empty sub-messages cost far more unpacked than packed).
final class UnpackBudget {
    var remaining: Int

    init(bytes: Int) { remaining = bytes }

    /// Calls `body` with an allocator drawing on this budget.
    func withAllocator<R>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) -> R) -> R {
        let context = Unmanaged.passUnretained(self).toOpaque()
        var allocator = ProtobufCAllocator(
            alloc: { data, size in
                let budget = Unmanaged<UnpackBudget>.fromOpaque(data!).takeUnretainedValue()
                guard size <= budget.remaining else { return nil }
                budget.remaining -= size
                return malloc(size)
            },
            free: { _, pointer in free(pointer) },
            allocator_data: context)
        return withExtendedLifetime(self) { body(&allocator) }
    }
}
