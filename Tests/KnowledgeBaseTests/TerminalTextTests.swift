@testable import KnowledgeBase
import Testing

@Suite struct TerminalTextTests {
    @Test func controlCharactersAreShownNotObeyed() {
        #expect(TerminalText.escapingControls("a.md\n2026 critical forged") == "a.md\\n2026 critical forged")
        #expect(TerminalText.escapingControls("\u{1B}[31mred\u{1B}[0m") == "\\u{1B}[31mred\\u{1B}[0m")
        #expect(TerminalText.escapingControls("tab\there\r\u{7F}\u{85}") == "tab\\there\\r\\u{7F}\\u{85}")
        #expect(TerminalText.escapingControls("line one\nline\ttwo\u{7}", keepingLineBreaks: true) == "line one\nline\ttwo\\u{7}")
        // Text without controls comes back as it was, combining marks and all.
        #expect(TerminalText.escapingControls("café ☕ e\u{301}") == "café ☕ e\u{301}")
    }
}
