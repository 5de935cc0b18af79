import CCurl
import Foundation
import Redaction

/// An HTTP request as `HTTPConnection` sends it.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET", post = "POST", put = "PUT", delete = "DELETE"
    }

    public var method: Method
    public var url: String
    /// Header lines as name and value; never logged (one may carry a token).
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// How long this request may take, the answer included; nil: the connection's total timeout.
    public var timeout: Duration?

    public init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil,
                timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response: the status and the body, whatever the status.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: Data
}

/// Why a request got no HTTP answer. The message names the host, never a header; libcurl's own
/// words in it pass through `SecretRedactor`, as they may quote what the server sent.
public struct HTTPError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// No connection (refused, unreachable, name not found) or it broke.
        case connection
        /// No answer within the connect or total timeout.
        case timeout
        /// The TLS handshake failed or the certificate was not trusted.
        case tls
        /// The answer was larger than the limit.
        case tooLarge
        /// Anything else libcurl refused (a malformed URL, say).
        case other
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }

    init(kind: Kind, message: String) {
        self.kind = kind
        self.message = SecretRedactor.redact(message)
    }

    /// True when the same request may succeed later on its own.
    public var isTransient: Bool { kind == .connection || kind == .timeout }
}

/// One libcurl easy handle: one request at a time, its connection kept alive between requests.
///
/// Blocking: `send` waits for the whole answer (up to the total timeout). `@unchecked Sendable`:
/// a handle is not thread-safe and this class does nothing to make it so; `HTTPConnectionPool`
/// lends each connection to one thread at a time, and it is `Sendable` only to be handed over.
public final class HTTPConnection: @unchecked Sendable {
    /// Owned: cleaned up in `deinit`, by nobody else.
    private let handle: UnsafeMutableRawPointer
    private let connectTimeout: Duration
    private let totalTimeout: Duration
    private let maxResponseBytes: Int

    /// libcurl's process-wide setup, which must happen once before any handle exists and is not
    /// thread-safe itself: a static `let` runs it exactly once.
    private static let globalSetup: CURLcode = CCurl_globalInit()

    public init(connectTimeout: Duration, totalTimeout: Duration, verifyTLS: Bool = true,
                maxResponseBytes: Int = 256 << 20) throws(HTTPError) {
        guard Self.globalSetup == CURLE_OK, let handle = curl_easy_init() else {
            throw HTTPError(kind: .other, message: "libcurl could not be initialised")
        }
        self.handle = handle
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBytes = maxResponseBytes
        // Signals are for single-threaded programs; with threads they must be off (timeouts still work).
        _ = CCurl_setLong(handle, CURLOPT_NOSIGNAL, 1)
        _ = CCurl_setLong(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout / .milliseconds(1)))
        _ = CCurl_setLong(handle, CURLOPT_TIMEOUT_MS, Int(totalTimeout / .milliseconds(1)))
        _ = CCurl_setLong(handle, CURLOPT_SSL_VERIFYPEER, verifyTLS ? 1 : 0)
        _ = CCurl_setLong(handle, CURLOPT_SSL_VERIFYHOST, verifyTLS ? 2 : 0)
        _ = CCurl_setLong(handle, CURLOPT_TCP_KEEPALIVE, 1)
        // Only HTTP and HTTPS, and no redirects unless a request asks for them (a vector store or an
        // embeddings API has no business sending us elsewhere; a model hub stores its files on a CDN).
        _ = CCurl_setString(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = CCurl_setString(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = CCurl_setLong(handle, CURLOPT_MAXREDIRS, 5)
        _ = CCurl_setLong(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = CCurl_setWriteCallback(handle, collectBody)
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and waits for the answer. Any status is an answer; only a request that got
    /// none throws.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let sink = MemorySink(limit: maxResponseBytes, origin: Self.origin(of: request.url))
        let status = try perform(request, into: sink)
        return HTTPResponse(status: status, body: sink.data)
    }

    /// Sends `request` and hands the answer's body to `sink` as it arrives; returns the final
    /// status. Redirects are followed when `followRedirects` (to http and https only, at most five).
    func perform(_ request: HTTPRequest, into sink: BodySink, followRedirects: Bool = false,
                 extraOptions: (UnsafeMutableRawPointer) -> Void = { _ in }) throws(HTTPError) -> Int {
        sink.transfer = handle
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }
        var headers: UnsafeMutablePointer<curl_slist>?
        for header in request.headers + [("Expect", "")] {
            headers = curl_slist_append(headers, "\(header.name): \(header.value)")
        }
        defer { curl_slist_free_all(headers) }
        var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        // libcurl reads the body during `perform`, so the buffer must outlive it; an empty body still
        // needs a valid pointer, and POSTFIELDSIZE says how many of its bytes are sent.
        var body = [UInt8](request.body ?? Data())
        let bodyLength = body.count
        if body.isEmpty { body = [0] }
        let code: CURLcode = errorText.withUnsafeMutableBufferPointer { errorBuffer in
            body.withUnsafeMutableBytes { bodyBytes in
                _ = CCurl_setString(handle, CURLOPT_URL, request.url)
                _ = CCurl_setLong(handle, CURLOPT_TIMEOUT_MS, Int((request.timeout ?? totalTimeout) / .milliseconds(1)))
                _ = CCurl_setHeaders(handle, headers)
                _ = CCurl_setPointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
                _ = CCurl_setPointer(handle, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
                _ = CCurl_setLong(handle, CURLOPT_FOLLOWLOCATION, followRedirects ? 1 : 0)
                if request.method == .get {
                    _ = CCurl_setLong(handle, CURLOPT_HTTPGET, 1)
                } else {
                    _ = CCurl_setSize(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyLength))
                    _ = CCurl_setPointer(handle, CURLOPT_POSTFIELDS, bodyBytes.baseAddress)
                }
                _ = CCurl_setString(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue)
                extraOptions(handle)
                defer {
                    // Nothing may point into buffers that are about to go away, and the next request
                    // starts from the connection's own settings.
                    _ = CCurl_setPointer(handle, CURLOPT_POSTFIELDS, nil)
                    _ = CCurl_setPointer(handle, CURLOPT_ERRORBUFFER, nil)
                    _ = CCurl_setHeaders(handle, nil)
                    _ = CCurl_setLong(handle, CURLOPT_FOLLOWLOCATION, 0)
                    _ = CCurl_setPointer(handle, CURLOPT_RANGE, nil)
                    _ = CCurl_setLong(handle, CURLOPT_LOW_SPEED_LIMIT, 0)
                    _ = CCurl_setLong(handle, CURLOPT_LOW_SPEED_TIME, 0)
                }
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw sink.failure ?? Self.error(code, detail: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                                             url: request.url)
        }
        var status = 0
        _ = CCurl_responseCode(handle, &status)
        return status
    }

    private static func error(_ code: CURLcode, detail: String, url: String) -> HTTPError {
        let place = Self.origin(of: url)
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return HTTPError(kind: .timeout, message: "\(place) did not answer in time: \(detail)")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SEND_ERROR,
             CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return HTTPError(kind: .connection, message: "cannot reach \(place): \(detail)")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            return HTTPError(kind: .tls, message: "TLS with \(place) failed: \(detail)")
        default:
            return HTTPError(kind: .other, message: "a request to \(place) failed: \(detail)")
        }
    }

    /// scheme://host:port of `url`, for messages: never its path or query, which might carry data.
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else {
            return "the server"
        }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }
}

/// Where libcurl's write callback puts an answer's body. Subclasses decide what to keep;
/// `receive` returning false stops the transfer (libcurl then fails with CURLE_WRITE_ERROR, and
/// `failure`, when set, is what the request throws instead).
class BodySink {
    /// The easy handle of the transfer under way, for reading its status from the callback.
    fileprivate(set) var transfer: UnsafeMutableRawPointer?
    /// Why the sink stopped the transfer, when it did.
    var failure: HTTPError?

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool { true }

    /// The status of the answer being received (0 before its headers have come).
    var status: Int {
        var status = 0
        if let transfer { _ = CCurl_responseCode(transfer, &status) }
        return status
    }
}

/// Keeps the body in memory; refuses more than `limit` bytes.
final class MemorySink: BodySink {
    private let limit: Int
    /// The server's scheme, host and port, for the message when the body is too large.
    private let origin: String
    private(set) var data = Data()

    init(limit: Int, origin: String) {
        self.limit = limit
        self.origin = origin
    }

    override func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard data.count + bytes.count <= limit else {
            failure = HTTPError(kind: .tooLarge, message: "\(origin) sent more than \(limit >> 20) MB")
            return false
        }
        data.append(contentsOf: bytes)
        return true
    }
}

/// libcurl's write callback: hands the bytes to the `BodySink` passed as WRITEDATA. Returning less
/// than was given makes libcurl stop with CURLE_WRITE_ERROR.
private func collectBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let sink = Unmanaged<BodySink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return sink.receive(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}
