import Embeddings
import Foundation
import Redaction

/// Where models come from and where they go, from the environment as huggingface_hub reads it:
/// the Hub at `HF_ENDPOINT` (default https://huggingface.co), a token from `HF_TOKEN`, else the
/// file `HF_TOKEN_PATH`, else `token` in Hugging Face's folder (`HF_HOME`...), and the cache where
/// huggingface_hub keeps it (`HF_HUB_CACHE`...; see `ModelLocator.hubDirectory`).
public struct HubSettings: Sendable {
    public static let defaultEndpoint = "https://huggingface.co"

    /// The Hub's base URL, without a trailing slash.
    public let endpoint: String
    /// Sent as `Authorization: Bearer`; never shown (registered with `SecretRedactor`).
    let token: String?
    /// The cache's layout (`models--owner--name/{blobs,snapshots,refs}`).
    let locator: ModelLocator

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ModelFetchError) {
        let endpoint = environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultEndpoint
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(),
              ["http", "https"].contains(scheme), components.host?.isEmpty == false,
              components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw ModelFetchError("HF_ENDPOINT must be an http or https URL such as \(Self.defaultEndpoint), without "
                + "credentials, query or fragment")
        }
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        do {
            locator = try ModelLocator(environment: environment)
        } catch {
            throw ModelFetchError(error.description)
        }
        token = Self.token(environment: environment, huggingFaceHome: locator.huggingFaceHome)
        SecretRedactor.register(token)
    }

    private static func token(environment: [String: String], huggingFaceHome: URL) -> String? {
        if let token = environment["HF_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty {
            return token
        }
        let file = environment["HF_TOKEN_PATH"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? huggingFaceHome.appendingPathComponent("token")
        let token = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return token?.isEmpty == false ? token : nil
    }

    /// The request headers every call to the Hub carries.
    var headers: [(name: String, value: String)] {
        var headers = [(name: "User-Agent", value: "mcp-rag")]
        if let token { headers.append((name: "Authorization", value: "Bearer \(token)")) }
        return headers
    }
}

/// Why a model could not be fetched; the message says what to do, and never holds the token.
public struct ModelFetchError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String

    init(_ description: String) {
        self.description = SecretRedactor.redact(description)
    }
}
