/// MDX-specific clean-up before an MDX file is treated as Markdown.
enum MDX {
    /// `text` without its top-level ES module lines: `import …` and `export …` statements starting
    /// at column 0 outside code fences, including the continuation lines of a statement whose braces,
    /// brackets or parentheses are still open (`export const meta = {` … `}`).
    static func strippingModuleLines(_ text: String) -> String {
        var kept: [Substring] = []
        var fence: CodeFence?
        var openBrackets = 0
        for line in TextLines.split(text[...]) {
            if openBrackets > 0 {
                openBrackets += bracketBalance(line)
                continue
            }
            if let open = fence {
                if open.isClosed(by: line) { fence = nil }
                kept.append(line)
                continue
            }
            if let open = CodeFence.opening(line) {
                fence = open
                kept.append(line)
                continue
            }
            if line.hasPrefix("import ") || line.hasPrefix("export ") || line.hasPrefix("import{")
                || line == "import" || line == "export" {
                openBrackets = max(0, bracketBalance(line))
                continue
            }
            kept.append(line)
        }
        return kept.joined(separator: "\n")
    }

    /// Opening minus closing brackets on the line (quotes are not considered).
    private static func bracketBalance(_ line: Substring) -> Int {
        var balance = 0
        for byte in line.utf8 {
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "("), UInt8(ascii: "["): balance += 1
            case UInt8(ascii: "}"), UInt8(ascii: ")"), UInt8(ascii: "]"): balance -= 1
            default: break
            }
        }
        return balance
    }
}
