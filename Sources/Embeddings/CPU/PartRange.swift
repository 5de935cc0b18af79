/// The `part`-th of `parts` contiguous ranges covering `0..<count`, with every boundary a multiple
/// of `alignment` (except the end), so vector loops on each part stay aligned to SIMD width.
package func partRange(_ part: Int, of parts: Int, count: Int, alignment: Int) -> Range<Int> {
    let units = (count + alignment - 1) / alignment
    let lower = Swift.min(count, (units * part / parts) * alignment)
    let upper = Swift.min(count, (units * (part + 1) / parts) * alignment)
    return lower..<upper
}
