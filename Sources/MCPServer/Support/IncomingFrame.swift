import Foundation
import MCP

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
/// Why once: one `JSONDecoder` pass reads the envelope and, for the messages the router answers,
/// their parameters (a tool call's name and arguments); only what goes on to the SDK (initialize,
/// ping, notifications) is decoded again, by the SDK.
enum IncomingFrame {
    /// To be answered with this error and not acted on.
    case reject(code: Int, message: String, id: ID?)
    /// A `tools/call` request whose parameters the SDK's types accept.
    case call(ID, CallTool.Parameters)
    /// A `tools/call` request with this id whose parameters are not a tool call's, and why.
    case malformedCall(ID, String)
    /// A `tools/list` request, and what is wrong with its parameters, if anything.
    case listTools(ID, problem: String?)
    /// `notifications/cancelled` for the request with this id.
    case cancellation(ID)
    /// Anything else: the SDK's to answer (with the id of the request it is, if it is one).
    case other(requestID: ID?)

    /// The id of the request this is, which must be answered once (rejected frames are answered
    /// at once and booked nowhere).
    var requestID: ID? {
        switch self {
        case .call(let id, _), .malformedCall(let id, _), .listTools(let id, _): id
        case .other(let id): id
        case .reject, .cancellation: nil
        }
    }

    static func read(_ message: Data) -> IncomingFrame {
        // JSON-RPC text is UTF-8; Foundation's reader would quietly replace bad bytes in a string.
        guard String(validating: message, as: UTF8.self) != nil else { return notJSON }
        switch JSONRPCEnvelope.firstByte(of: message) {
        case UInt8(ascii: "{"):
            guard let frame = try? JSONDecoder().decode(Fields.self, from: message) else { return notJSON }
            return frame.sorted(lonelySurrogate: JSONEscapes.firstLoneSurrogate(in: message))
        case UInt8(ascii: "["):
            guard (try? JSONSerialization.jsonObject(with: message)) != nil else { return notJSON }
            return .reject(code: -32600, message: "Invalid Request: MCP has no batches (protocol 2025-11-25); "
                + "send each request as a message of its own", id: nil)
        case nil:
            return .reject(code: -32600, message: "Invalid Request: an empty message", id: nil)
        default:
            // A number, string, true, false or null: JSON, but not a request.
            guard (try? JSONSerialization.jsonObject(with: message, options: .fragmentsAllowed)) != nil else { return notJSON }
            return .reject(code: -32600, message: "Invalid Request: a request is a JSON object", id: nil)
        }
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

/// What one decoding pass reads from a JSON object frame. JSONDecoder skips what no key asks
/// for, so a frame's unrelated parts cost nothing but the scan.
private struct Fields: Decodable {
    let version: String?
    let method: String?
    let id: ID?
    /// Whether it has a result or an error: what makes it an answer.
    let isAnswer: Bool
    /// Whether an `id` is there but neither a string, an integer nor null.
    let hasUnusableID: Bool
    /// Whether `id` is null, which JSON-RPC allows and MCP does not.
    let hasNullID: Bool
    /// Whether `method` is there but not a string.
    let hasUnusableMethod: Bool
    /// A `tools/call` request's parameters, or what is wrong with them.
    let call: Result<CallTool.Parameters, CallProblem>?
    /// What is wrong with a `tools/list` request's parameters, if anything.
    let listProblem: String?
    /// `params.requestId` of a cancellation.
    let cancelledRequest: ID?
    /// Whether a message for the SDK has params its `Value` cannot hold (a number such as 1e999):
    /// the SDK would answer it under an id of its own making, never under the request's.
    let hasUnreadableParams: Bool

    private enum Keys: String, CodingKey { case jsonrpc, method, id, result, error, params }
    private enum CancelledKeys: String, CodingKey { case requestId }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        version = try? container.decode(String.self, forKey: .jsonrpc)
        method = try? container.decode(String.self, forKey: .method)
        id = try? container.decode(ID.self, forKey: .id)
        hasNullID = container.contains(.id) && ((try? container.decodeNil(forKey: .id)) ?? false)
        hasUnusableID = id == nil && container.contains(.id) && !hasNullID
        hasUnusableMethod = method == nil && container.contains(.method)
        isAnswer = container.contains(.result) || container.contains(.error)
        let isRequest = id != nil && !isAnswer
        switch method {
        case CallTool.name where isRequest:
            do {
                call = .success(try container.decode(CallTool.Parameters.self, forKey: .params))
            } catch {
                call = .failure(CallProblem(container.superDecoderIfPresent(forKey: .params)))
            }
            (listProblem, cancelledRequest) = (nil, nil)
        case ListTools.name where isRequest:
            listProblem = ListToolsProblem.describe(container.superDecoderIfPresent(forKey: .params))
            (call, cancelledRequest) = (nil, nil)
        case "notifications/cancelled":
            let params = try? container.nestedContainer(keyedBy: CancelledKeys.self, forKey: .params)
            cancelledRequest = try? params?.decode(ID.self, forKey: .requestId)
            (call, listProblem) = (nil, nil)
        default:
            (call, listProblem, cancelledRequest) = (nil, nil, nil)
        }
        let forTheSDK = !isAnswer && method != CallTool.name && method != ListTools.name
        hasUnreadableParams = forTheSDK && container.contains(.params)
            && (try? container.decode(Value.self, forKey: .params)) == nil
    }

    /// The frame's verdict; `lonelySurrogate` is the first `\uD8xx`-style escape without its other
    /// half, which is valid JSON syntax but no character (Foundation's decoder fails on it deep
    /// inside the SDK).
    func sorted(lonelySurrogate: String?) -> IncomingFrame {
        let usableID = hasUnusableID ? nil : id
        if let escape = lonelySurrogate {
            return .reject(code: -32700, message: "Parse error: the message holds \(escape), half of a UTF-16 surrogate pair "
                + "without its other half, which is no character", id: usableID)
        }
        if isAnswer { return .other(requestID: nil) }
        if version != "2.0" {
            return .reject(code: -32600, message: "Invalid Request: \"jsonrpc\" must be \"2.0\"", id: usableID)
        }
        if hasUnusableID {
            return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer", id: nil)
        }
        if hasNullID {
            return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer, not null "
                + "(a notification has no \"id\" at all)", id: nil)
        }
        guard let method else {
            return .reject(code: -32600, message: hasUnusableMethod
                ? "Invalid Request: \"method\" must be a string" : "Invalid Request: no \"method\"", id: usableID)
        }
        if hasUnreadableParams {
            return .reject(code: -32602, message: "Invalid params: they hold a number outside the range of a 64-bit float "
                + "(such as 1e999)", id: id)
        }
        guard let id else {
            if method == "notifications/cancelled", let cancelledRequest { return .cancellation(cancelledRequest) }
            return .other(requestID: nil)
        }
        switch call {
        case .success(let parameters): return .call(id, parameters)
        case .failure(let problem): return .malformedCall(id, problem.description)
        case nil: break
        }
        if method == ListTools.name { return .listTools(id, problem: listProblem) }
        return .other(requestID: id)
    }
}

/// What is wrong with a `tools/call`'s parameters that the SDK's types refuse.
private struct CallProblem: Error, CustomStringConvertible {
    let description: String

    static let shape = "tools/call needs params with \"name\" (a string) and optionally \"arguments\" (an object)"

    private enum ParamsKeys: String, CodingKey { case name, arguments }

    /// Looks into `params` (nil when the frame has none) for the first thing wrong.
    init(_ params: Decoder?) {
        guard let params = try? params?.container(keyedBy: ParamsKeys.self),
              (try? params.decode(String.self, forKey: .name)) != nil, params.contains(.arguments)
        else {
            description = Self.shape
            return
        }
        guard (try? params.nestedContainer(keyedBy: AnyKey.self, forKey: .arguments)) != nil else {
            description = "tools/call's \"arguments\" must be an object"
            return
        }
        do {
            _ = try params.decode([String: Value].self, forKey: .arguments)
            description = Self.shape
        } catch let DecodingError.dataCorrupted(context) {
            description = Self.unreadable(context)
        } catch let DecodingError.typeMismatch(_, context) {
            description = Self.unreadable(context)
        } catch {
            description = "tools/call's arguments cannot be read: \(error)"
        }
    }

    /// Names the argument that could not become a value. The frame has passed as UTF-8 JSON
    /// without lone surrogates, so what is left is a number past a 64-bit float's range.
    private static func unreadable(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.drop { $0.stringValue != "arguments" }.dropFirst().map(\.stringValue).filter { !$0.isEmpty }
        let place = path.isEmpty ? "tools/call's arguments" : "the argument \"\(path.joined(separator: "."))\""
        return "\(place) cannot be read: it holds a number outside the range of a 64-bit float (such as 1e999)"
    }
}

/// What is wrong with a `tools/list` request's parameters, if anything.
private enum ListToolsProblem {
    private enum ParamsKeys: String, CodingKey { case cursor }

    /// `params` is nil when the frame has none.
    static func describe(_ params: Decoder?) -> String? {
        guard let params, !((try? params.singleValueContainer().decodeNil()) ?? false) else { return nil }
        guard let container = try? params.container(keyedBy: ParamsKeys.self) else {
            return "tools/list's params must be an object"
        }
        guard container.contains(.cursor), !((try? container.decodeNil(forKey: .cursor)) ?? false) else { return nil }
        guard (try? container.decode(String.self, forKey: .cursor)) != nil else {
            return "tools/list's \"cursor\" must be a string from an earlier answer's nextCursor"
        }
        // The list is one page and its answers carry no nextCursor: no cursor is valid.
        return "invalid cursor: the tool list has a single page, so no cursor is needed"
    }
}

/// Any key, for looking into an object without naming its keys.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private extension KeyedDecodingContainer {
    /// A decoder for the value under `key`, or nil when the key is absent.
    func superDecoderIfPresent(forKey key: Key) -> Decoder? {
        contains(key) ? try? superDecoder(forKey: key) : nil
    }
}
