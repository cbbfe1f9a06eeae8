import CDNNL

/// Splits elementwise work over the compute threads, in the same OpenMP team as oneDNN's GEMMs
/// (a second pool of threads, e.g. GCD's, fights the spinning OpenMP threads and slowed training by 25 %).
/// Small ranges run inline: waking threads costs more than it saves.
public enum Parallel {
    /// Calls `body` on disjoint subranges covering 0..<count, concurrently when count is large.
    /// `body` must only touch the elements of the range it is given.
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let workers = min(ComputeThreads.current, count / max(minimumChunk, 1))
        guard workers > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var work = body
            withUnsafeMutablePointer(to: &work) { context in
                cdnnl_parallel_for(Int64(count), Int32(workers), { context, begin, end in
                    let body = context!.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee
                    body(Int(begin)..<Int(end))
                }, context)
            }
        }
    }
}
