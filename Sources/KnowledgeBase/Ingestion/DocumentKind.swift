import Foundation

/// What kind of document a file holds, which decides how it is read and where its sections begin.
public enum DocumentKind: Sendable, Hashable {
    /// CommonMark / GitHub-flavoured Markdown.
    case markdown
    /// MDX: Markdown with JSX; its top-level `import`/`export` lines are dropped.
    case mdx
    /// Plain text: one section, no headings.
    case text
    /// reStructuredText: underlined (and overlined) titles.
    case restructuredText
    /// HTML, turned into Markdown-like text when loaded.
    case html
    /// Source code in the named language ("swift", "python", …): one section, split at lines.
    case sourceCode(language: String)
    /// PDF: its text layer, page by page; a passage never spans two pages.
    case pdf
    /// A Word document (Office Open XML), read into sections under its headings.
    case docx
    /// An OpenDocument text (LibreOffice), read into sections under its headings.
    case odt
    /// An EPUB book: its chapters in reading order, each turned into Markdown-like text as HTML is.
    case epub

    /// True for the formats read from their bytes by a library (not decoded as text).
    public var isBinaryFormat: Bool {
        switch self {
        case .pdf, .docx, .odt, .epub: true
        default: false
        }
    }

    /// The kind for a file name, from its extension (case-insensitive); `nil` when the type is not
    /// supported.
    ///
    /// A name without an extension (README, LICENSE) is plain text, except a few well-known build
    /// files (Makefile, Dockerfile, …). A dot-file (".env", ".gitignore") is not "without an
    /// extension": what follows the dot is its extension, so it is usually unsupported.
    public init?(fileName: String) {
        if let language = Self.extensionlessSourceNames[fileName] {
            self = .sourceCode(language: language)
            return
        }
        guard let dot = fileName.lastIndex(of: ".") else {
            self = .text
            return
        }
        self.init(fileExtension: String(fileName[fileName.index(after: dot)...]))
    }

    /// The kind for a file URL (see `init(fileName:)`).
    public init?(url: URL) {
        self.init(fileName: url.lastPathComponent)
    }

    /// The kind for a bare extension without the dot ("md", "PY"); an empty extension is plain text.
    public init?(fileExtension: String) {
        let ext = fileExtension.lowercased()
        switch ext {
        case "md", "markdown", "mdown", "mkd", "mkdn":
            self = .markdown
        case "mdx":
            self = .mdx
        case "", "txt", "text":
            self = .text
        case "rst", "rest":
            self = .restructuredText
        case "html", "htm", "xhtml":
            self = .html
        case "pdf":
            self = .pdf
        case "docx":
            self = .docx
        case "odt":
            self = .odt
        case "epub":
            self = .epub
        default:
            guard let language = Self.sourceLanguages[ext] else { return nil }
            self = .sourceCode(language: language)
        }
    }

    /// Source-code extensions and the language each names.
    static let sourceLanguages: [String: String] = [
        "swift": "swift",
        "py": "python", "pyi": "python",
        "js": "javascript", "mjs": "javascript", "cjs": "javascript", "jsx": "jsx",
        "ts": "typescript", "mts": "typescript", "cts": "typescript", "tsx": "tsx",
        "go": "go",
        "rs": "rust",
        "c": "c", "h": "c",
        "cc": "cpp", "cpp": "cpp", "cxx": "cpp", "hh": "cpp", "hpp": "cpp", "hxx": "cpp",
        "m": "objective-c", "mm": "objective-cpp",
        "java": "java",
        "kt": "kotlin", "kts": "kotlin",
        "scala": "scala",
        "groovy": "groovy", "gradle": "groovy",
        "rb": "ruby",
        "php": "php",
        "cs": "csharp",
        "fs": "fsharp",
        "sh": "shell", "bash": "bash", "zsh": "zsh", "fish": "fish", "ps1": "powershell",
        "sql": "sql",
        "yaml": "yaml", "yml": "yaml",
        "toml": "toml",
        "json": "json", "jsonc": "json",
        "xml": "xml",
        "css": "css", "scss": "scss", "sass": "sass", "less": "less",
        "vue": "vue", "svelte": "svelte",
        "lua": "lua",
        "r": "r",
        "jl": "julia",
        "dart": "dart",
        "ex": "elixir", "exs": "elixir",
        "erl": "erlang", "hrl": "erlang",
        "hs": "haskell",
        "ml": "ocaml", "mli": "ocaml",
        "clj": "clojure", "cljs": "clojure",
        "zig": "zig",
        "nim": "nim",
        "pl": "perl", "pm": "perl",
        "proto": "protobuf",
        "graphql": "graphql", "gql": "graphql",
        "tf": "terraform",
        "cmake": "cmake",
        "dockerfile": "dockerfile",
        "mk": "make",
    ]

    /// Build files that are conventionally named without an extension.
    static let extensionlessSourceNames: [String: String] = [
        "Makefile": "make", "makefile": "make", "GNUmakefile": "make",
        "Dockerfile": "dockerfile", "Containerfile": "dockerfile",
        "Gemfile": "ruby", "Rakefile": "ruby", "Podfile": "ruby",
        "Jenkinsfile": "groovy",
    ]
}
