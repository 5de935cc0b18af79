import CCurl
import Foundation

/// What a download got: the final status, and the body of an answer that was not the file (an
/// error page, kept up to 64 KB for the message).
public struct DownloadOutcome: Sendable {
    public let status: Int
    /// The file's size after the download, and the bytes this request wrote into it.
    public let fileSize: Int64
    public let receivedBytes: Int64
    /// The answer's body when the status was not 200 or 206; empty otherwise.
    public let errorBody: Data
}

extension HTTPConnection {
    /// Downloads `request` (a GET) into `file`, following redirects (http and https only).
    ///
    /// A file that already holds bytes is resumed: the request asks for the rest with a `Range`
    /// header, and the answer is appended when the server sends 206; a server that sends the whole
    /// file again (200) has the file rewritten from its start. Any other status leaves the file as
    /// it was. There is no total timeout (a large file takes what it takes); a transfer that moves
    /// nothing for `stallTimeout` fails as `.timeout`. `progress` gets the file's size as it grows.
    public func download(_ request: HTTPRequest, to file: URL, stallTimeout: Duration = .seconds(60),
                         progress: @escaping (Int64) -> Void = { _ in }) throws(HTTPError) -> DownloadOutcome {
        let sink: FileSink
        do {
            sink = try FileSink(file: file, progress: progress)
        } catch {
            throw HTTPError(kind: .other, message: "cannot write \(file.path): \(error.localizedDescription)")
        }
        defer { sink.close() }
        let resumeFrom = sink.startSize
        var unbounded = request
        unbounded.timeout = .zero  // libcurl: 0 is no limit
        let status = try perform(unbounded, into: sink, followRedirects: true) { handle in
            if resumeFrom > 0 { _ = CCurl_setString(handle, CURLOPT_RANGE, "\(resumeFrom)-") }
            _ = CCurl_setLong(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            _ = CCurl_setLong(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(stallTimeout / .seconds(1))))
        }
        return DownloadOutcome(status: status, fileSize: sink.size, receivedBytes: sink.received, errorBody: sink.errorBody)
    }
}

/// Writes a download's body into a file: appended after a 206, from the start after a 200, and
/// not at all for any other status (that body is kept in memory for the message instead).
private final class FileSink: BodySink {
    private let output: FileHandle
    private let file: URL
    private let progress: (Int64) -> Void
    /// The file's size when the download began (what a resumed request asks the rest of).
    let startSize: Int64
    private(set) var size: Int64
    private(set) var received: Int64 = 0
    private(set) var errorBody = Data()
    /// Whether the answer's status has been looked at (on the first bytes of its body).
    private var decided = false
    private var writesToFile = false

    init(file: URL, progress: @escaping (Int64) -> Void) throws {
        if !FileManager.default.fileExists(atPath: file.path) {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission)
            }
        }
        output = try FileHandle(forWritingTo: file)
        startSize = Int64(try output.seekToEnd())
        size = startSize
        self.file = file
        self.progress = progress
    }

    func close() { try? output.close() }

    override func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if !decided {
            decided = true
            switch status {
            case 206:
                writesToFile = true
            case 200:
                writesToFile = true
                do {
                    try output.truncate(atOffset: 0)
                    size = 0
                } catch {
                    return fail(error)
                }
            default:
                writesToFile = false
            }
        }
        guard writesToFile else {
            if errorBody.count < 64 << 10 { errorBody.append(contentsOf: bytes.prefix((64 << 10) - errorBody.count)) }
            return true
        }
        do {
            try output.write(contentsOf: bytes)
        } catch {
            return fail(error)
        }
        size += Int64(bytes.count)
        received += Int64(bytes.count)
        progress(size)
        return true
    }

    private func fail(_ error: Error) -> Bool {
        failure = HTTPError(kind: .other, message: "cannot write \(file.path): \(error.localizedDescription)")
        return false
    }
}
