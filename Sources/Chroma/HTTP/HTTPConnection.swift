import CCurl
import Foundation
import Storage

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
        // Only HTTP and HTTPS, and no redirects: a vector store has no business sending us elsewhere.
        _ = CCurl_setString(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = CCurl_setLong(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = CCurl_setWriteCallback(handle, collectBody)
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and waits for the answer. Any status is an answer; only a request that got
    /// none throws.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let sink = ResponseSink(limit: maxResponseBytes)
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
                if request.method == .get {
                    _ = CCurl_setLong(handle, CURLOPT_HTTPGET, 1)
                } else {
                    _ = CCurl_setSize(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyLength))
                    _ = CCurl_setPointer(handle, CURLOPT_POSTFIELDS, bodyBytes.baseAddress)
                }
                _ = CCurl_setString(handle, CURLOPT_CUSTOMREQUEST, request.method.rawValue)
                defer {
                    // Nothing may point into buffers that are about to go away.
                    _ = CCurl_setPointer(handle, CURLOPT_POSTFIELDS, nil)
                    _ = CCurl_setPointer(handle, CURLOPT_ERRORBUFFER, nil)
                    _ = CCurl_setHeaders(handle, nil)
                }
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Self.error(code, detail: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                             url: request.url, sink: sink)
        }
        var status = 0
        _ = CCurl_responseCode(handle, &status)
        return HTTPResponse(status: status, body: sink.data)
    }

    private static func error(_ code: CURLcode, detail: String, url: String, sink: ResponseSink) -> HTTPError {
        let place = Self.origin(of: url)
        switch code {
        case CURLE_WRITE_ERROR where sink.overflowed:
            return HTTPError(kind: .tooLarge, message: "\(place) sent more than \(sink.limit >> 20) MB")
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

/// Where libcurl's write callback puts the answer; refuses more than `limit` bytes.
private final class ResponseSink {
    let limit: Int
    var data = Data()
    var overflowed = false

    init(limit: Int) { self.limit = limit }
}

/// libcurl's write callback: appends to the `ResponseSink` passed as WRITEDATA. Returning less
/// than was given makes libcurl stop with CURLE_WRITE_ERROR.
private func collectBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard sink.data.count + length <= sink.limit else {
        sink.overflowed = true
        return 0
    }
    sink.data.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
    return length
}
