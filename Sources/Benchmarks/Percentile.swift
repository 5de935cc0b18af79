/// The value at `fraction` (0…1) of `sorted` (ascending), by nearest rank; 0 when it is empty.
/// Every benchmark reports its percentiles this one way.
func nearestRank(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}
