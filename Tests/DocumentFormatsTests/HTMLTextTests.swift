import Testing
@testable import DocumentFormats

@Suite struct HTMLTextTests {
    func convert(_ html: String) -> String { HTMLText.markdown(fromHTML: html) }

    @Test func headingsParagraphsAndLists() {
        let html = """
            <!DOCTYPE html>
            <html><head><title>Page title</title><meta charset="utf-8">
            <style>body { color: red } h1 > p { }</style></head>
            <body>
              <h1>Getting   <em>started</em></h1>
              <p>First paragraph
                 spread over lines.</p>
              <div>Second<br>line</div>
              <h2 class="x">Install</h2>
              <ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>
              <h3></h3>
              <table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>
            </body></html>
            """
        #expect(convert(html) == """
            # Getting started

            First paragraph spread over lines.

            Second
            line

            ## Install

            - one
            - two
              - nested

            a b
            c d
            """)
    }

    @Test func scriptsStylesCommentsAndSVGVanish() {
        let html = """
            <p>keep 1</p>
            <script type="text/javascript">if (a < b && c > d) { document.write("<p>no</p>") }</script>
            <p>keep 2</p><!-- a comment with <p>tags</p> -->
            <noscript><p>enable JavaScript</p></noscript>
            <template><p>template</p></template>
            <svg viewBox="0 0 10 10"><svg><text>inner</text></svg><text>outer</text></svg>
            <STYLE>.x { }</STYLE>
            <p>keep 3</p>
            """
        #expect(convert(html) == "keep 1\n\nkeep 2\n\nkeep 3")
    }

    @Test func entitiesAreDecoded() {
        let html = "<p>&lt;tag&gt; &amp;&amp; &quot;q&quot; &apos;a&apos; x&nbsp;y &copy; &mdash; &#65;&#x42;&#X43; &#128512; &unknown; & alone</p>"
        #expect(convert(html) == "<tag> && \"q\" 'a' x y © — ABC 😀 &unknown; & alone")
        // Character references to nothing a text may hold are dropped (libxml2's recovery).
        #expect(convert("<p>a &#0; b &#xD800; c &#x110000000000000000000; d</p>") == "a b c d")
    }

    @Test func preBecomesAFencedBlock() {
        let html = """
            <p>Run:</p>
            <pre><code class="language-swift">let x = 1
            if x &lt; 2 {
                print(x)   // <b>kept</b> indentation
            }
            </code></pre>
            <p>Inline <code>let y</code> code.</p>
            <pre>has ``` inside</pre>
            """
        #expect(convert(html) == """
            Run:

            ```swift
            let x = 1
            if x < 2 {
                print(x)   // kept indentation
            }
            ```

            Inline `let y` code.

            ````
            has ``` inside
            ````
            """)
    }

    @Test func malformedInputNeverBreaksTheScanner() {
        // Unclosed tags, a bare `<`, `>` inside a quoted attribute, an unterminated comment.
        #expect(convert("<p>a < b and 1<2</p>") == "a < b and 1<2")
        #expect(convert("<a title=\"x > y\" href='z'>link</a> text") == "link text")
        #expect(convert("<p>open <b>bold <i>both") == "open bold both")
        #expect(convert("text <!-- never closed <p>hidden</p>") == "text")
        #expect(convert("<h2>Unclosed heading<p>body") == "## Unclosed heading\n\nbody")
        #expect(convert("<script>never closed") == "")
        // A quoted value that never ends takes the rest of the page with it, as in browsers.
        #expect(convert("<a title=\"unterminated>text</a> after") == "")
        #expect(convert("<pre>unclosed pre\n  indented") == "```\nunclosed pre\n  indented\n```")
        #expect(convert("a <") == "a <")
        #expect(convert("<") == "<")
        #expect(convert("&") == "&")
        #expect(convert("</p></div></pre></code></h1>text") == "text")
        #expect(convert("a</p>b") == "a\n\nb")
        // Every prefix of a messy document converts without trapping.
        let messy = "<div a='1' b=\"2>\"><h1>T&amp;<x</h1><pre>c<!--d--></pre><script>s</scr"
        for length in 0...messy.count {
            _ = convert(String(messy.prefix(length)))
        }
    }

    @Test func hostileMarkupIsConvertedInOnePass() throws {
        // Shapes that made the hand-written scanner this replaced read the rest of the page again
        // at every `<` (800 KB took 105 s): tags with no `>` after them, inside a dropped element
        // and out of it, and quoted values that hide every `>`. 2 MB each; quadratic, they would
        // take many minutes.
        let size = 2 << 20
        let shapes = ["<svg>" + String(repeating: "<a ", count: size / 3),
                      "<p>text</p>" + String(repeating: "<a ", count: size / 3),
                      "<svg>" + String(repeating: "<a x=\"", count: size / 6)]
        for html in shapes {
            #expect(convert(html).utf8.count < 16)
        }
        // Quoted `>` everywhere: read as one tag of ever more attributes, refused before libxml2 sees it.
        #expect(throws: FormatRefusal.tooManyAttributes(part: "the page", limit: 1024)) {
            try HTMLText.markdown(fromHTML: String(repeating: "<a='>'", count: size / 6), stopIf: { false })
        }
        // A tag that never ends is dropped with the rest of the input, as browsers do.
        #expect(convert("<p>before</p><a href=x") == "before")
    }

    @Test func aConversionStopsWhenAskedInsideThePage() throws {
        let page = String(repeating: "<p>paragraph</p>", count: 100_000)  // 1.6 MB
        var asked = 0
        #expect(throws: FormatRefusal.cancelled) {
            try HTMLText.markdown(fromHTML: page, stopIf: {
                asked += 1
                return asked == 3
            })
        }
        #expect(asked == 3)
        #expect(try HTMLText.markdown(fromHTML: page, stopIf: { false }).hasPrefix("paragraph"))
    }

    @Test func pagesLibxml2WouldTakeHoursOnAreRefused() {
        // libxml2 2.9 compares a tag's attributes pairwise, and scans its whole stack for each end
        // tag that matches nothing: both quadratic, neither cancellable. Small here; the same
        // shapes at 10 MB take hours.
        let attributes = "<p " + (0..<5_000).map { "a\($0)" }.joined(separator: " ") + ">text</p>"
        #expect(throws: FormatRefusal.tooManyAttributes(part: "the page", limit: 1024)) {
            try HTMLText.markdown(fromHTML: attributes, stopIf: { false })
        }
        let deep = String(repeating: "<span>", count: 5_000) + String(repeating: "</i>", count: 5_000)
        #expect(throws: FormatRefusal.nestedTooDeep(part: "the page", limit: 256)) {
            try HTMLText.markdown(fromHTML: deep, stopIf: { false })
        }
        #expect(convert(String(repeating: "<div>", count: 200) + "deep enough" + String(repeating: "</div>", count: 200))
            == "deep enough")
    }

    @Test func wordsConditionalCommentsAndControlsDoNotReachTheText() {
        // Word's "Save as Web Page" wraps list bullets in downlevel-revealed conditional comments.
        let word = "<p><![if !supportLists]><span>·</span><![endif]>First item</p><p>page\u{0C}break</p>"
        #expect(convert(word) == "·First item\n\npage break")
    }

    @Test func runsOfBlankLinesCollapse() {
        #expect(convert("<p>a</p><p></p><div></div><br><br><br><p>b</p>") == "a\n\nb")
    }
}
