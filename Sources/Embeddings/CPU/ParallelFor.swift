import Dispatch

/// Splits `count` items into `parts` contiguous ranges of nearly equal size and runs `body` on each
/// range, on Dispatch's worker threads (never on Swift's cooperative pool).
///
/// With one part, or one item, the work runs on the calling thread: thread hand-offs cost a few
/// microseconds, which matters for single-query latency.
func parallelRanges(count: Int, parts requested: Int, _ body: (Range<Int>) -> Void) {
    let parts = Swift.max(1, Swift.min(requested, count))
    if parts == 1 {
        body(0..<count)
        return
    }
    parallelFor(parts) { part in
        body(partRange(part, of: parts, count: count, alignment: 1))
    }
}

/// Runs `body(0)` … `body(iterations - 1)` concurrently on Dispatch's worker threads and returns
/// when all are done; one iteration runs on the calling thread.
func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 1 {
        if iterations == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        // The callers hand each iteration a disjoint slice of their buffers, and
        // `concurrentPerform` returns only after every iteration finished, so sharing the
        // closure (and the raw pointers it captures) across the workers cannot race.
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: iterations) { work($0) }
    }
}

/// The `part`-th of `parts` contiguous ranges covering `0..<count`, with every boundary a multiple
/// of `alignment` (except the end), so vector loops on each part stay aligned to SIMD width.
func partRange(_ part: Int, of parts: Int, count: Int, alignment: Int) -> Range<Int> {
    let units = (count + alignment - 1) / alignment
    let lower = Swift.min(count, (units * part / parts) * alignment)
    let upper = Swift.min(count, (units * (part + 1) / parts) * alignment)
    return lower..<upper
}
