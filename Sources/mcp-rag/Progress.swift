import Foundation
import KnowledgeBase

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar: Sendable {
    private let line = ProgressLine()

    func update(_ step: IngestProgress) {
        guard step.filesTotal > 0 else { return }
        let width = 30
        let filled = width * step.filesDone / step.filesTotal
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        line.show("\(bar) \(step.filesDone)/\(step.filesTotal) files, \(step.chunksEmbedded) passages embedded")
    }

    func finish() { line.finish() }
}

/// One line of progress on stderr, redrawn in place, only when stderr is a terminal.
final class ProgressLine: Sendable {
    private let enabled = isatty(2) == 1

    func show(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
