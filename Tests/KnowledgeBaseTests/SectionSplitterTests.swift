import Testing
@testable import KnowledgeBase

@Suite struct SectionSplitterTests {
    func sections(_ text: String, _ kind: DocumentKind = .markdown) -> [(String, String)] {
        SectionSplitter.sections(of: LoadedDocument(kind: kind, text: text)).map { ($0.heading, $0.text) }
    }

    func headings(_ text: String, _ kind: DocumentKind = .markdown) -> [String] {
        sections(text, kind).map(\.0)
    }

    @Test func atxHeadingsAndPathPopping() {
        let text = """
            Intro text.
            # Install
            Overview.
            ## Linux
            Linux text.
            ### Debian
            apt install.
            ### Fedora ###
            dnf install.
            ## macOS
            brew install.
            # Usage
            Use it.
            """
        #expect(headings(text) == [
            "", "Install", "Install > Linux", "Install > Linux > Debian", "Install > Linux > Fedora",
            "Install > macOS", "Usage",
        ])
        #expect(sections(text)[3].1 == "apt install.")
    }

    @Test func skippedLevelsPopCorrectly() {
        // A level-4 heading directly under a level-1, then a level-2: the level-4 is popped.
        let text = "# A\na\n#### B\nb\n## C\nc\n"
        #expect(headings(text) == ["A", "A > B", "A > C"])
    }

    @Test func atxEdgeCases() {
        let text = """
               # Three spaces is a heading
            x
                # Four spaces is code
            #hashtag is not a heading
            ####### seven is not a heading
            # C# keeps its hash
            y
            ## Closing hashes ##   
            z
            """
        #expect(headings(text) == ["Three spaces is a heading", "C# keeps its hash", "C# keeps its hash > Closing hashes"])
        #expect(sections(text)[0].1.contains("#hashtag is not a heading"))
        #expect(sections(text)[0].1.contains("    # Four spaces is code"))
    }

    @Test func hashLinesInFencedCodeAreNotHeadings() {
        let text = """
            # Shell
            ````bash
            # a comment
            ```
            # still inside: the closing fence must be at least as long
            ````
            ~~~
            # tilde fence
            ```
            ~~~
            ## After
            done
            """
        #expect(headings(text) == ["Shell", "Shell > After"])
        #expect(sections(text)[0].1.contains("# still inside"))
        #expect(sections(text)[0].1.contains("# tilde fence"))
    }

    @Test func unclosedFenceRunsToTheEnd() {
        #expect(headings("# A\ntext\n```\n# not a heading\n") == ["A"])
    }

    @Test func setextHeadings() {
        let text = """
            Title
            =====
            Intro.

            Section one
            -----------
            Body one.

            A paragraph
            over two lines
            ---
            Body two.

            - a list item
            ---
            after the rule

            ---
            a rule after a blank line is no heading
            """
        let found = sections(text)
        #expect(found.map(\.0) == ["Title", "Title > Section one", "Title > A paragraph over two lines"])
        #expect(found[2].1.contains("- a list item\n---"))
        #expect(found[2].1.contains("a rule after a blank line is no heading"))
    }

    @Test func setextIsNotUsedForHTML() {
        #expect(headings("# Page\nfirst\n---\nsecond", .html) == ["Page"])
    }

    @Test func frontMatterIsDroppedAndNamesThePreamble() {
        let text = """
            ---
            title: "Getting Started"
            tags: [a, b]
            ---
            Preamble text.

            # First
            Body.
            """
        let found = sections(text)
        #expect(found.map(\.0) == ["Getting Started", "First"])
        #expect(found[0].1.trimmedBlankLines() == "Preamble text.")
        #expect(!found.contains { $0.1.contains("tags:") })

        let toml = "+++\ntitle = 'Hugo page'\n+++\nText.\n"
        #expect(sections(toml).map(\.0) == ["Hugo page"])

        // Without a closing line it is not front matter: the --- is a rule and the text stays.
        #expect(sections("---\ntitle: x\nbody").first?.1.contains("title: x") == true)
        // Not at the very top: not front matter, but a rule and then a setext heading.
        #expect(headings("\n---\ntitle: x\n---\nbody") == ["", "title: x"])
    }

    @Test func headingOnlySectionsAreDropped() {
        let text = "# A\n\n   \n## B\ntext\n## C\n\n"
        #expect(headings(text) == ["A > B"])
    }

    @Test func restructuredTextLevelsFollowFirstAppearance() {
        let text = """
            ==========
             Document
            ==========

            Intro.

            Install
            =======

            Overview.

            Linux
            -----

            Linux text.

            Usage
            =====

            Use it.

            Details
            -------

            More.

            Deep
            ~~~~

            Deepest.

            Short
            ==

            Some text
            A paragraph line
            ----------------------
            """
        #expect(headings(text, .restructuredText) == [
            "Document", "Document > Install", "Document > Install > Linux", "Document > Usage",
            "Document > Usage > Details", "Document > Usage > Details > Deep",
        ])
        let last = sections(text, .restructuredText).last?.1 ?? ""
        // An underline shorter than its title is not one, nor is a line without a blank line before.
        #expect(last.contains("Short\n=="))
        #expect(last.contains("A paragraph line\n-------"))
    }

    @Test func restructuredTextOverlineIsADistinctStyle() {
        // "=" with an overline and "=" without are different levels.
        let text = "=====\nTop\n=====\n\na\n\nSub\n===\n\nb\n\n=====\nTop2\n=====\n\nc\n"
        #expect(headings(text, .restructuredText) == ["Top", "Top > Sub", "Top2"])
    }

    @Test func indentedRSTLinesAreNotTitles() {
        let text = "Title\n=====\n\nExample::\n\n    code\n    ----\n\nend\n"
        #expect(headings(text, .restructuredText) == ["Title"])
    }

    @Test func textAndSourceCodeAreOneSection() {
        #expect(sections("# not a heading\ntext", .text).map(\.0) == [""])
        #expect(sections("# comment\nx = 1\n\nTitle\n=====", .sourceCode(language: "python")).count == 1)
        #expect(sections(" \n\n", .text).isEmpty)
    }
}

extension String {
    func trimmedBlankLines() -> String {
        String(TextLines.trimmingBlankLines(self[...]))
    }
}
