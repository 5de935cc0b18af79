import Foundation
import KnowledgeBase
import Logging

/// swift-log's stream format (`time level label: metadata [source] message`) on stderr, with every
/// control character in the message, metadata and source escaped: a file name or a query holding a
/// newline cannot forge a log line of its own, nor ESC drive the terminal that shows the log.
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided, uniquingKeysWith: { $1 }) }
        if let explicit = event.metadata { all.merge(explicit, uniquingKeysWith: { $1 }) }
        let fields = all.sorted { $0.key < $1.key }
            .map { " " + TerminalText.escapingControls("\($0.key)=\($0.value)") }.joined()
        let text = "\(Self.timestamp()) \(event.level) \(TerminalText.escapingControls(label)):\(fields) "
            + "[\(TerminalText.escapingControls(event.source))] \(TerminalText.escapingControls(event.message.description))\n"
        // One write per line, so lines from several threads never interleave.
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
