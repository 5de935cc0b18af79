import Foundation
import TestSupport

/// Runs `body` with a fresh empty directory, removed afterwards whatever happens.
func withTemporaryDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("storage-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// A random vector of `dimension` floats scaled to unit length.
func randomUnitVector(dimension: Int, using generator: inout SeededGenerator) -> [Float] {
    let values = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
    let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return values.map { $0 / norm }
}
