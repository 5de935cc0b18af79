import Foundation
import MCP
import StrictJSON

/// One frame from the client, read once: checked as JSON-RPC 2.0 with MCP's (2025-11-25)
/// narrowing of it (an id is a string or an integer, never null; no batches) and sorted into
/// what the router answers itself and what it hands to the SDK.
///
/// Why the checks: the SDK (0.12.1) answers any frame it cannot decode with -32700 and an id of
/// its own making (a fresh UUID), even when the frame was valid JSON with a usable id but, say, no
/// method. JSON-RPC says otherwise: -32700 (id null) only for what is not JSON, -32600 for JSON that
/// is not a request, with the request's id when it has a usable one. A client matching answers to
/// requests by id can only do that with the right id, and a person reading the error with the
/// right code.
///
/// Why the strict reader: one pass over the bytes (a few µs for a tool call) gives the envelope
/// and a tool call's arguments. The SDK's own decoding of a tool call's `Value`s took 0.3 ms, as it
/// tries a regular expression on every string, and read a string that looks like a `data:` URL as
/// binary data, which no tool argument is. Only what goes on to the SDK (initialize, ping,
/// notifications) is decoded again, by the SDK.
enum IncomingFrame {
    /// To be answered with this error and not acted on: no request (not JSON, no method, a batch…),
    /// its id given where one could be read.
    case reject(code: Int, message: String, id: ID?)
    /// A request (a method and a usable id) refused before anyone acts on it: answered with this
    /// error under its id, and never booked.
    case refusedRequest(ID, code: Int, message: String)
    /// A `tools/call` request whose parameters the SDK's types accept.
    case call(ID, CallTool.Parameters)
    /// A `tools/call` request with this id whose parameters are not a tool call's, and why.
    case malformedCall(ID, String)
    /// A `tools/list` request, and what is wrong with its parameters, if anything.
    case listTools(ID, problem: String?)
    /// `notifications/cancelled` for the request with this id.
    case cancellation(ID)
    /// An answer (a result or an error) from the client: this server sends the client no
    /// requests, so none is awaited. Handed to the SDK, one it could not read as an answer it
    /// answered itself, under that id (perhaps the id of a call still running).
    case ignored
    /// Anything else: the SDK's to answer (with the id of the request it is, if it is one).
    case other(method: String, requestID: ID?)

    /// The id of the request this is, which must be answered once (rejected frames are answered
    /// at once and booked nowhere).
    var requestID: ID? {
        switch self {
        case .call(let id, _), .malformedCall(let id, _), .listTools(let id, _): id
        case .other(_, let id): id
        case .reject, .refusedRequest, .cancellation, .ignored: nil
        }
    }

    /// The id of the request this is, booked or refused: the request a transport that answers
    /// each request in its own response (HTTP) waits to answer.
    var answeredID: ID? {
        if case .refusedRequest(let id, _, _) = self { return id }
        return requestID
    }

    /// The error to answer with at once, and the id to answer under, when the frame is refused.
    var refusal: (code: Int, message: String, id: ID?)? {
        switch self {
        case .reject(let code, let message, let id): (code, message, id)
        case .refusedRequest(let id, let code, let message): (code, message, id)
        default: nil
        }
    }

    /// Whether this is an `initialize` request, the one that opens a session.
    var isInitialize: Bool {
        if case .other(Initialize.name, _?) = self { return true }
        return false
    }

    /// The progress token of a tool call that asks for progress.
    var progressToken: ProgressToken? {
        if case .call(_, let parameters) = self { return parameters._meta?.progressToken }
        return nil
    }

    /// Reads `message`, refusing objects and arrays nested more than `maxDepth` deep (at most
    /// `JSONReader.maxDepth`) as soon as the reader meets one.
    static func read(_ message: Data, maxDepth: Int = JSONReader.maxDepth) -> IncomingFrame {
        guard JSONRPCEnvelope.firstByte(of: message) != nil else {
            return .reject(code: -32600, message: "Invalid Request: an empty message", id: nil)
        }
        // JSON-RPC text starts with its value (the reader would skip a byte-order mark, as files
        // may begin with one).
        guard !message.starts(with: [0xEF, 0xBB, 0xBF]) else { return notJSON }
        let bytes = [UInt8](message)
        let document: JSONValue
        do {
            document = try JSONReader.parse(bytes, maxDepth: maxDepth)
        } catch {
            return unreadable(bytes, error, maxDepth: min(maxDepth, JSONReader.maxDepth))
        }
        switch document {
        case .object: return Envelope(document: document, bytes: bytes).sorted()
        case .array:
            return .reject(code: -32600, message: "Invalid Request: MCP has no batches (protocol 2025-11-25); "
                + "send each request as a message of its own", id: nil)
        default:
            // A number, string, true, false or null: JSON, but not a request.
            return .reject(code: -32600, message: "Invalid Request: a request is a JSON object", id: nil)
        }
    }

    /// Why `bytes`, which the strict reader refused with `error`, cannot be acted on: JSON but for
    /// a lone surrogate escape (a parse error naming it, under the request's id when it is a
    /// request with a usable one), nested too deeply, or not JSON at all. What Foundation's reader lets pass
    /// unread (a trailing comma, a raw tab in a string) is not JSON and is refused here.
    private static func unreadable(_ bytes: [UInt8], _ error: JSONReadError, maxDepth: Int) -> IncomingFrame {
        if error.isTooDeep {
            return .reject(code: -32600, message: "Invalid Request: the message nests objects and arrays more than "
                + "\(maxDepth) deep", id: nil)
        }
        if let escape = JSONEscapes.firstLoneSurrogate(in: Data(bytes)),
           let document = try? JSONReader.parse(bytes, replacingLoneSurrogates: true, maxDepth: maxDepth) {
            var id = Envelope.identifier(document.firstValue(forKey: "id"), bytes: bytes).id
            // An id holding the escape itself is no id the client could match: Foundation's reader
            // fails on just those.
            if case .string? = id, JSONRPCEnvelope.single(in: Data(bytes))?.id == nil { id = nil }
            return refused(code: -32700, message: "Parse error: the message holds \(escape), half of a UTF-16 surrogate pair "
                + "without its other half, which is no character", id: id, method: document.firstValue(forKey: "method"))
        }
        return notJSON
    }

    /// A frame refused with this error: a request, answered under its id, when it names a method
    /// (a string) and has a usable `id`; otherwise no request.
    fileprivate static func refused(code: Int, message: String, id: ID?, method: JSONValue?) -> IncomingFrame {
        if let id, case .string? = method { return .refusedRequest(id, code: code, message: message) }
        return .reject(code: code, message: message, id: id)
    }

    private static let notJSON = IncomingFrame.reject(code: -32700, message: "Parse error: the message is not valid JSON in UTF-8",
                                                      id: nil)

    /// The error answer for a rejected frame, `id` null when it has none.
    static func errorAnswer(code: Int, message: String, id: ID?) -> Data {
        struct Answer: Encodable {
            struct Failure: Encodable {
                let code: Int
                let message: String
            }
            let id: ID?
            let error: Failure
            enum Keys: String, CodingKey { case jsonrpc, id, error }
            func encode(to encoder: Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode("2.0", forKey: .jsonrpc)
                try container.encode(id, forKey: .id)  // null, not left out, when there is none
                try container.encode(error, forKey: .error)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Answer(id: id, error: .init(code: code, message: message))))
            ?? Data(#"{"error":{"code":-32603,"message":"Internal error"},"id":null,"jsonrpc":"2.0"}"#.utf8)
    }
}

/// A JSON object frame's members, sorted into a verdict.
///
/// Of a key given twice the first counts, here and in every object of the frame: Foundation's
/// JSONDecoder reads them so, and with it the SDK, which answers the requests the router leaves it.
private struct Envelope {
    /// The frame read (an object).
    let document: JSONValue
    /// The frame as it came, for the rare id that a Double cannot hold exactly.
    let bytes: [UInt8]

    /// What an `id` (or a cancellation's `requestId`) holds.
    enum Identifier {
        case absent, null, unusable
        case usable(ID)

        var id: ID? { if case .usable(let id) = self { id } else { nil } }
    }

    /// `value` as a JSON-RPC id: a string, or a number with a whole value (1.0 is 1, as JSONDecoder
    /// reads an Int). A Double holds integers exactly up to 2^53; beyond that the literal is read
    /// again by JSONDecoder, which reads an Int64 exactly (clients numbering from a clock do that).
    static func identifier(_ value: JSONValue?, bytes: [UInt8], inParams: Bool = false) -> Identifier {
        switch value {
        case nil: return .absent
        case .null: return .null
        case .string(let text): return .usable(.string(text))
        case .number(let number) where number.magnitude < 0x1p53:
            return Int(exactly: number).map { .usable(.number($0)) } ?? .unusable
        case .number:
            let exact = try? JSONDecoder().decode(ExactIDs.self, from: Data(bytes))
            return (inParams ? exact?.requestID : exact?.id).map { .usable($0) } ?? .unusable
        default: return .unusable
        }
    }

    func sorted() -> IncomingFrame {
        let id = Self.identifier(document.firstValue(forKey: "id"), bytes: bytes)
        if document.firstValue(forKey: "result") != nil || document.firstValue(forKey: "error") != nil { return .ignored }
        let usableID = id.id
        let methodValue = document.firstValue(forKey: "method")
        func refuse(code: Int, _ message: String) -> IncomingFrame {
            IncomingFrame.refused(code: code, message: message, id: usableID, method: methodValue)
        }
        guard case .string("2.0")? = document.firstValue(forKey: "jsonrpc") else {
            return refuse(code: -32600, "Invalid Request: \"jsonrpc\" must be \"2.0\"")
        }
        switch id {
        case .unusable: return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer", id: nil)
        case .null:
            return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer, not null "
                + "(a notification has no \"id\" at all)", id: nil)
        case .absent, .usable: break
        }
        guard let methodValue else {
            return .reject(code: -32600, message: "Invalid Request: no \"method\"", id: usableID)
        }
        guard case .string(let method) = methodValue else {
            return .reject(code: -32600, message: "Invalid Request: \"method\" must be a string", id: usableID)
        }
        let params = document.firstValue(forKey: "params")
        // The SDK would answer params its `Value` cannot hold (a number such as 1e999) under an id
        // of its own making, never under the request's.
        let forTheSDK = usableID == nil || (method != CallTool.name && method != ListTools.name)
        if forTheSDK, let params, Self.firstUnreadableNumber(in: params, path: []) != nil {
            return refuse(code: -32602, "Invalid params: they hold a number outside the range of a 64-bit float (such as 1e999)")
        }
        guard let id = usableID else {
            if method == "notifications/cancelled",
               case .usable(let request) = Self.identifier(params?.firstValue(forKey: "requestId"), bytes: bytes, inParams: true) {
                return .cancellation(request)
            }
            return .other(method: method, requestID: nil)
        }
        switch method {
        case CallTool.name: return Self.call(id, params, bytes: bytes)
        case ListTools.name: return .listTools(id, problem: Self.listProblem(params))
        default: return .other(method: method, requestID: id)
        }
    }

    /// The members of an object that count: the first of each key.
    private static func counted(_ members: [(key: String, value: JSONValue)]) -> [(key: String, value: JSONValue)] {
        var seen: Set<String> = []
        return members.filter { seen.insert($0.key).inserted }
    }

    /// The path (keys and indices) to the first number past a 64-bit float's range, or nil.
    private static func firstUnreadableNumber(in value: JSONValue, path: [String]) -> [String]? {
        switch value {
        case .number(let number): return number.isFinite ? nil : path
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = firstUnreadableNumber(in: element, path: path + [String(index)]) { return found }
            }
            return nil
        case .object(let members):
            for (key, member) in counted(members) {
                if let found = firstUnreadableNumber(in: member, path: path + [key]) { return found }
            }
            return nil
        default: return nil
        }
    }

    /// The value of each counted member, as the SDK's `Value`.
    private static func values(_ members: [(key: String, value: JSONValue)]) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: counted(members).map { ($0.key, ToolJSON.value(of: $0.value)) })
    }

    static let callShape = "tools/call needs params with \"name\" (a string) and optionally \"arguments\" (an object)"

    /// A `tools/call` request's parameters as the SDK's type, or what is wrong with them.
    private static func call(_ id: ID, _ params: JSONValue?, bytes: [UInt8]) -> IncomingFrame {
        guard case .string(let name)? = params?.firstValue(forKey: "name") else {
            return .malformedCall(id, callShape)
        }
        var arguments: [String: Value]?
        switch params?.firstValue(forKey: "arguments") {
        case nil, .null?: arguments = nil
        case .object(let members)?:
            if let path = firstUnreadableNumber(in: .object(members), path: []) {
                let place = path.isEmpty ? "tools/call's arguments" : "the argument \"\(path.joined(separator: "."))\""
                return .malformedCall(id, "\(place) cannot be read: it holds a number outside the range of a 64-bit float (such as 1e999)")
            }
            arguments = values(members)
        default: return .malformedCall(id, "tools/call's \"arguments\" must be an object")
        }
        var meta: Metadata?
        switch params?.firstValue(forKey: "_meta") {
        case nil, .null?: meta = nil
        case .object(let members)?:
            guard firstUnreadableNumber(in: .object(members), path: []) == nil else { return .malformedCall(id, callShape) }
            // Set whole: Metadata's initializer would drop a progress token given among the other fields.
            var fields = Metadata()
            fields.fields = values(members)
            meta = fields
        default: return .malformedCall(id, "tools/call's \"_meta\" must be an object")
        }
        // A progress token numbered past 2^53 (from a clock, say) is read again by JSONDecoder,
        // which reads an Int64 exactly: progress must name the very token the client sent.
        if meta != nil, case .number(let token)? = params?.firstValue(forKey: "_meta")?.firstValue(forKey: "progressToken"),
           token.magnitude >= 0x1p53 {
            meta?.fields["progressToken"] = (try? JSONDecoder().decode(ExactProgressToken.self, from: Data(bytes)))?.value
        }
        return .call(id, CallTool.Parameters(name: name, arguments: arguments, meta: meta))
    }

    /// What is wrong with a `tools/list` request's parameters, if anything.
    private static func listProblem(_ params: JSONValue?) -> String? {
        switch params {
        case nil, .null?: return nil
        case .object?:
            switch params?.firstValue(forKey: "cursor") {
            case nil, .null?: return nil
            // The list is one page and its answers carry no nextCursor: no cursor is valid.
            case .string?: return "invalid cursor: the tool list has a single page, so no cursor is needed"
            default: return "tools/list's \"cursor\" must be a string from an earlier answer's nextCursor"
            }
        default: return "tools/list's params must be an object"
        }
    }
}

/// A tool call's progress token as JSONDecoder reads it, for a number past 2^53; nil when it is
/// no integer (1e30), as the SDK would have it.
private struct ExactProgressToken: Decodable {
    let value: Value?
    private enum Keys: String, CodingKey { case params, _meta, progressToken }
    init(from decoder: Decoder) throws {
        let meta = try decoder.container(keyedBy: Keys.self).nestedContainer(keyedBy: Keys.self, forKey: .params)
            .nestedContainer(keyedBy: Keys.self, forKey: ._meta)
        value = (try? meta.decode(Int.self, forKey: .progressToken)).map(Value.int)
    }
}

/// The ids of a frame as JSONDecoder reads them, for an integer past 2^53.
private struct ExactIDs: Decodable {
    struct RequestID: Decodable { let requestId: ID? }
    let id: ID?
    let params: RequestID?
    var requestID: ID? { params?.requestId }
    private enum Keys: String, CodingKey { case id, params }
    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        id = try? container.decode(ID.self, forKey: .id)
        params = try? container.decode(RequestID.self, forKey: .params)
    }
}
