import Embeddings

/// A piece of a document small enough to embed whole: its text and the heading path above it.
public struct TextChunk: Sendable, Equatable {
    /// The section's heading path ("Install > Linux"); empty when the section has none.
    public var heading: String
    /// The chunk's text, without leading blank lines or trailing whitespace.
    public var text: String
    /// The chunk's position in its document, from 0.
    public var ordinal: Int
    /// The page it is on, from 1, in a paged document (PDF); nil in any other.
    public var page: Int?

    /// A chunk with the given fields.
    public init(heading: String, text: String, ordinal: Int, page: Int? = nil) {
        self.heading = heading
        self.text = text
        self.ordinal = ordinal
        self.page = page
    }
}

/// Cuts documents into chunks that fit the embedding model's window.
///
/// Sections (see `SectionSplitter`) are chunked independently, so a chunk never spans two
/// headings. A section is split into blocks (paragraphs; a fenced code block or reStructuredText
/// literal block is one block), and consecutive blocks are packed greedily up to `targetTokens`. A
/// code block that fits in `maxTokens` is never split: it may stretch its chunk up to `maxTokens`,
/// or start a new one. A block over `maxTokens` is split at sentence ends (prose), then line ends,
/// then spaces, then between characters, and the pieces are packed the same way. From the second
/// chunk of a section on, each chunk starts with the end of the previous one (about
/// `overlapTokens`, starting at a sentence, list item or line where possible; a fenced block is
/// repeated whole or not at all; see `overlapTail`).
///
/// No chunk is longer than `maxTokens` word pieces (every chunk of more than one piece is counted
/// again as a whole before it is accepted) or `maxChunkBytes` bytes. The output depends only on the
/// input, so chunk ids derived from it are stable.
public struct Chunker: Sendable {
    /// Counts a text's word pieces, without special tokens.
    public let tokenCount: @Sendable (String) -> Int
    /// The size chunks are filled up to.
    public let targetTokens: Int
    /// How much a chunk repeats of the previous one: whole sentences up to this many tokens, or one
    /// sentence of up to half as much again.
    public let overlapTokens: Int
    /// The hard limit: the model's window less its two special tokens.
    public let maxTokens: Int
    /// A hard limit on a chunk's UTF-8 size, for text the tokenizer packs densely (a long run without
    /// spaces is one `[UNK]` word piece, however long it is).
    public let maxChunkBytes: Int

    /// - Parameters:
    ///   - tokenCount: the number of word pieces in a string, without [CLS]/[SEP].
    ///   - targetTokens: the size chunks are filled up to (at most `maxTokens`).
    ///   - overlapTokens: how much of the previous chunk a chunk repeats (less than `targetTokens`).
    ///   - maxTokens: no chunk has more word pieces than this.
    ///   - maxChunkBytes: no chunk has more UTF-8 bytes than this.
    public init(tokenCount: @escaping @Sendable (String) -> Int, targetTokens: Int = 200, overlapTokens: Int = 32,
                maxTokens: Int = 254, maxChunkBytes: Int = 4096) {
        self.tokenCount = tokenCount
        self.maxTokens = max(1, maxTokens)
        self.targetTokens = min(max(1, targetTokens), self.maxTokens)
        self.overlapTokens = min(max(0, overlapTokens), self.targetTokens - 1)
        self.maxChunkBytes = max(16, maxChunkBytes)
    }

    /// A chunker that counts with `tokenizer` and fits its model's window of `windowTokens`
    /// (special tokens included).
    public init(tokenizer: Tokenizer, windowTokens: Int = 256, targetTokens: Int = 200, overlapTokens: Int = 32) {
        self.init(
            tokenCount: { tokenizer.encode($0, maxLength: Int.max).count - 2 },
            targetTokens: targetTokens, overlapTokens: overlapTokens, maxTokens: windowTokens - 2)
    }

    /// The chunks of `document`, numbered from 0 in document order.
    public func chunks(of document: LoadedDocument) -> [TextChunk] {
        var result: [TextChunk] = []
        for section in SectionSplitter.sections(of: document) {
            let heading = section.heading
            for text in chunkTexts(ofSection: section.text, kind: document.kind) {
                result.append(TextChunk(heading: heading, text: text, ordinal: result.count, page: section.page))
            }
        }
        return result
    }

    /// The chunk texts of one section's text.
    func chunkTexts(ofSection text: String, kind: DocumentKind) -> [String] {
        var units: [Unit] = []
        for (index, block) in Self.blocks(of: text[...], syntax: BlockSyntax(kind)).enumerated() {
            let separator = index == 0 ? text[text.startIndex..<text.startIndex] : Self.blockSeparator
            appendUnits(block.text, separator: separator, style: block.style, keepWhole: block.isCodeBlock,
                        levels: block.style.splitLevels[...], knownTokens: nil, into: &units)
        }
        return pack(units)
    }

    // MARK: Units

    /// A piece of a section that is packed whole: a block, or part of one that was too big.
    struct Unit {
        /// The text, starting at a non-blank line.
        let text: Substring
        /// What goes between this unit and the one before it when both are in a chunk.
        let separator: Substring
        let tokens: Int
        let bytes: Int
        let style: BlockStyle
        /// A whole fenced code block (or literal block): packed up to `maxTokens`, never cut for overlap.
        let keepWhole: Bool
    }

    /// Appends `text` as one unit if it fits, or else the units of its pieces at the first of
    /// `levels` that splits it.
    func appendUnits(_ text: Substring, separator: Substring, style: BlockStyle, keepWhole: Bool,
                     levels: ArraySlice<SplitLevel>, knownTokens: Int?, into units: inout [Unit]) {
        let tokens = knownTokens ?? tokenCount(String(text))
        let bytes = text.utf8.count
        if tokens <= maxTokens && bytes <= maxChunkBytes {
            units.append(Unit(text: text, separator: separator, tokens: tokens, bytes: bytes, style: style,
                              keepWhole: keepWhole))
            return
        }
        guard let level = levels.first, level != .character else {
            appendCharacterUnits(text, separator: separator, style: style, into: &units)
            return
        }
        let pieces = Self.split(text, at: level)
        guard pieces.count > 1 else {
            appendUnits(text, separator: separator, style: style, keepWhole: false, levels: levels.dropFirst(),
                        knownTokens: tokens, into: &units)
            return
        }
        for (index, piece) in pieces.enumerated() {
            appendUnits(piece.text, separator: index == 0 ? separator : piece.separator, style: style,
                        keepWhole: false, levels: levels.dropFirst(), knownTokens: nil, into: &units)
        }
    }

    /// The last resort for a word too long for a chunk: pieces of at most `maxChunkBytes` bytes,
    /// halved until each fits in `maxTokens`. The pieces join with nothing between them.
    func appendCharacterUnits(_ text: Substring, separator: Substring, style: BlockStyle, into units: inout [Unit]) {
        var pieces: [Substring] = []
        var start = text.startIndex
        var bytes = 0
        var index = text.startIndex
        while index != text.endIndex {
            let width = text[index].utf8.count
            if bytes + width > maxChunkBytes && index != start {
                pieces.append(text[start..<index])
                start = index
                bytes = 0
            }
            bytes += width
            index = text.index(after: index)
        }
        if start != text.endIndex { pieces.append(text[start...]) }

        var first = true
        func emit(_ piece: Substring) {
            let tokens = tokenCount(String(piece))
            if tokens > maxTokens, piece.count > 1 {
                let middle = piece.index(piece.startIndex, offsetBy: piece.count / 2)
                emit(piece[..<middle])
                emit(piece[middle...])
                return
            }
            units.append(Unit(text: piece, separator: first ? separator : piece[piece.startIndex..<piece.startIndex],
                              tokens: tokens, bytes: piece.utf8.count, style: style, keepWhole: false))
            first = false
        }
        for piece in pieces { emit(piece) }
    }

    // MARK: Packing

    /// The end of a previous chunk, repeated at the start of the next.
    struct Overlap {
        let text: String
        let tokens: Int
        let bytes: Int
    }

    /// Packs one section's units into chunk texts.
    func pack(_ units: [Unit]) -> [String] {
        var chunks: [String] = []
        var start = 0
        var previous: Range<Int>?
        while start < units.count {
            let first = units[start]
            var overlap = previous.flatMap {
                overlapTail(of: units[$0], hardLimit: maxTokens - first.tokens,
                            byteBudget: maxChunkBytes - first.bytes - first.separator.utf8.count)
            }
            var tokens = first.tokens + (overlap?.tokens ?? 0)
            var bytes = first.bytes + (overlap.map { $0.bytes + first.separator.utf8.count } ?? 0)
            var end = start + 1
            while end < units.count {
                let unit = units[end]
                // A whole code block may stretch the chunk to the hard limit rather than be cut off
                // from the text that introduces it.
                let limit = unit.keepWhole ? maxTokens : targetTokens
                let newBytes = bytes + unit.separator.utf8.count + unit.bytes
                guard tokens + unit.tokens <= limit, newBytes <= maxChunkBytes else { break }
                tokens += unit.tokens
                bytes = newBytes
                end += 1
            }
            // Counts add up across the whitespace between units, but not exactly in every case (a
            // word cut between characters, control characters the tokenizer drops): the whole is
            // counted again, and shortened until it fits. A lone unit was counted as it stands.
            var text = compose(overlap, units[start..<end])
            while overlap != nil || end - start > 1, tokenCount(text) > maxTokens {
                if overlap != nil {
                    overlap = nil
                } else {
                    end -= 1
                }
                text = compose(overlap, units[start..<end])
            }
            chunks.append(text)
            previous = start..<end
            start = end
        }
        return chunks
    }

    func compose(_ overlap: Overlap?, _ units: ArraySlice<Unit>) -> String {
        var text = overlap?.text ?? ""
        for unit in units {
            if !text.isEmpty { text += unit.separator }
            text += unit.text
        }
        return String(TextLines.trimmingBlankLines(text[...]))
    }

    /// The end of `units` (a previous chunk's content) to repeat at the start of the next chunk:
    /// whole units, sentences, list items or lines from the end while they add up to at most
    /// `overlapTokens`. When not even the last of them fits, it may still be taken alone if it is
    /// within half as much again (a sentence of 40 tokens beats a fragment of one); otherwise the
    /// search goes down a level (item, then sentence, then words; code stops at lines). Never more
    /// than `hardLimit` tokens or `byteBudget` bytes; nil when nothing fits.
    func overlapTail(of units: ArraySlice<Unit>, hardLimit: Int, byteBudget: Int) -> Overlap? {
        let budget = min(overlapTokens, hardLimit)
        let stretched = min(overlapTokens + overlapTokens / 2, hardLimit)
        guard budget > 0, byteBudget > 0 else { return nil }
        var parts: [(separator: Substring, text: Substring)] = []  // last first
        var tokens = 0
        var bytes = 0

        func take(_ separator: Substring, _ text: Substring, _ count: Int) -> Bool {
            let size = text.utf8.count + separator.utf8.count
            guard bytes + size <= byteBudget else { return false }
            guard tokens + count <= budget || (parts.isEmpty && count <= stretched) else { return false }
            parts.append((separator, text))
            tokens += count
            bytes += size
            return true
        }

        func takePieces(of text: Substring, separator: Substring, levels: ArraySlice<SplitLevel>) {
            guard let level = levels.first else { return }
            let pieces = Self.split(text, at: level)
            var took = false
            for (index, piece) in pieces.enumerated().reversed() {
                let pieceSeparator = index == 0 ? separator : piece.separator
                guard take(pieceSeparator, piece.text, tokenCount(String(piece.text))) else { break }
                took = true
                if tokens > budget { break }  // the stretched allowance is for one piece alone
            }
            if !took, let last = pieces.last {
                takePieces(of: last.text, separator: pieces.count == 1 ? separator : last.separator,
                           levels: levels.dropFirst())
            }
        }

        for unit in units.reversed() {
            if take(unit.separator, unit.text, unit.tokens) {
                if tokens > budget { break }
                continue
            }
            // A code block is repeated whole or not at all.
            if !unit.keepWhole, parts.isEmpty {
                takePieces(of: unit.text, separator: unit.separator, levels: unit.style.overlapLevels[...])
            } else if !unit.keepWhole {
                takePieces(of: unit.text, separator: unit.separator, levels: unit.style.overlapLevels.prefix(1))
            }
            break
        }
        guard !parts.isEmpty else { return nil }
        var text = ""
        for (index, part) in parts.reversed().enumerated() {
            if index > 0 { text += part.separator }
            text += part.text
        }
        return Overlap(text: text, tokens: tokens, bytes: text.utf8.count)
    }

    // MARK: Blocks

    static let blockSeparator: Substring = "\n\n"

    /// How a block's text may be cut when it is too big.
    enum BlockStyle {
        /// Running text: cut at sentence ends first.
        case prose
        /// A table or a list without blank lines: cut before items (rows, list items with their
        /// continuation lines) first, so an item is not broken at a full stop inside it.
        case items
        /// Code: cut at line ends, never at sentence ends.
        case code

        var splitLevels: [SplitLevel] {
            switch self {
            case .prose: [.sentence, .line, .word, .character]
            case .items: [.item, .sentence, .line, .word, .character]
            case .code: [.line, .word, .character]
            }
        }

        /// Where an overlap taken from the end of such a block may start, best first.
        var overlapLevels: [SplitLevel] {
            switch self {
            case .prose: [.sentence, .word]
            case .items: [.item, .sentence, .word]
            case .code: [.line]
            }
        }
    }

    /// The block syntax of a document kind.
    enum BlockSyntax {
        case markdown
        case restructuredText
        case text
        case sourceCode

        init(_ kind: DocumentKind) {
            switch kind {
            case .markdown, .mdx, .html, .epub: self = .markdown
            case .restructuredText: self = .restructuredText
            case .text, .pdf, .docx, .odt: self = .text
            case .sourceCode: self = .sourceCode
            }
        }
    }

    struct Block {
        let text: Substring
        let style: BlockStyle
        /// A fenced code block or reStructuredText literal block.
        let isCodeBlock: Bool
    }

    /// The blocks of a section: paragraphs (runs of non-blank lines) and code blocks.
    static func blocks(of text: Substring, syntax: BlockSyntax) -> [Block] {
        let lines = TextLines.split(text)
        var blocks: [Block] = []
        var paragraphStart: Int?
        /// After a reStructuredText paragraph ending in "::": the indentation a literal block must exceed.
        var literalAfterIndent: Int?

        func span(_ range: Range<Int>) -> Substring {
            text[lines[range.lowerBound].startIndex..<lines[range.upperBound - 1].endIndex]
        }
        func endParagraph(at end: Int) {
            guard let start = paragraphStart else { return }
            paragraphStart = nil
            let first = lines[start]
            let style: BlockStyle
            if syntax == .sourceCode || (syntax == .markdown && TextLines.indentation(first) >= 4) {
                style = .code
            } else {
                style = lines[start..<end].filter(isItemLine).count >= 2 ? .items : .prose
            }
            blocks.append(Block(text: span(start..<end), style: style, isCodeBlock: false))
            if syntax == .restructuredText, TextLines.trimmed(lines[end - 1]).hasSuffix("::") {
                literalAfterIndent = TextLines.indentation(first)
            }
        }
        /// The end of the indented region starting at `start` (lines blank or indented more than
        /// `indent`), trailing blank lines excluded.
        func indentedRegionEnd(from start: Int, deeperThan indent: Int) -> Int {
            var end = start
            var index = start
            while index < lines.count {
                let line = lines[index]
                if TextLines.isBlank(line) {
                    index += 1
                    continue
                }
                guard TextLines.indentation(line) > indent else { break }
                index += 1
                end = index
            }
            return end
        }

        var index = 0
        while index < lines.count {
            let line = lines[index]
            if syntax == .markdown, let fence = CodeFence.opening(line) {
                endParagraph(at: index)
                var end = index + 1
                while end < lines.count {
                    end += 1
                    if fence.isClosed(by: lines[end - 1]) { break }
                }
                blocks.append(Block(text: span(index..<end), style: .code, isCodeBlock: true))
                index = end
                continue
            }
            if syntax == .restructuredText, paragraphStart == nil, isRSTCodeDirective(line) {
                let end = max(index + 1, indentedRegionEnd(from: index + 1, deeperThan: TextLines.indentation(line)))
                blocks.append(Block(text: span(index..<end), style: .code, isCodeBlock: true))
                index = end
                literalAfterIndent = nil
                continue
            }
            if TextLines.isBlank(line) {
                endParagraph(at: index)
                index += 1
                continue
            }
            if let indent = literalAfterIndent, paragraphStart == nil {
                literalAfterIndent = nil
                if TextLines.indentation(line) > indent {
                    let end = indentedRegionEnd(from: index, deeperThan: indent)
                    blocks.append(Block(text: span(index..<end), style: .code, isCodeBlock: true))
                    index = end
                    continue
                }
            }
            if paragraphStart == nil { paragraphStart = index }
            index += 1
        }
        endParagraph(at: lines.count)
        return blocks
    }

    /// A table row or list item: a line that stands on its own rather than continuing a sentence.
    static func isItemLine(_ line: Substring) -> Bool {
        let body = TextLines.trimmed(line)
        guard let first = body.first else { return false }
        if first == "|" { return true }
        let second = body.dropFirst().first
        if first == "-" || first == "*" || first == "+" || first == "•" {
            return second == " " || second == "\t"
        }
        let digits = body.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty, digits.count <= 9 {
            let after = body.dropFirst(digits.count)
            return (after.first == "." || after.first == ")") && (after.dropFirst().first == " ")
        }
        return false
    }

    /// `.. code-block:: lang`, `.. code:: lang`, `.. sourcecode:: lang`.
    static func isRSTCodeDirective(_ line: Substring) -> Bool {
        let body = TextLines.trimmed(line)
        return body.hasPrefix(".. code-block::") || body.hasPrefix(".. code::") || body.hasPrefix(".. sourcecode::")
    }

    // MARK: Splitting

    enum SplitLevel {
        case sentence
        /// Before each table row or list item (see `isItemLine`).
        case item
        case line
        case word
        case character
    }

    /// A piece of a split text and the whitespace that preceded it (empty for the first).
    struct Piece {
        let separator: Substring
        let text: Substring
    }

    /// `text` cut at every boundary of `level` (not `.character`), the whitespace at each cut kept as
    /// the next piece's separator. Pieces never start or end with whitespace.
    static func split(_ text: Substring, at level: SplitLevel) -> [Piece] {
        if level == .item {
            // Lines, with each line that does not start an item joined to the one before.
            var items: [Piece] = []
            for line in split(text, at: .line) {
                if let last = items.last, !isItemLine(line.text) {
                    items[items.count - 1] = Piece(separator: last.separator,
                                                   text: text[last.text.startIndex..<line.text.endIndex])
                } else {
                    items.append(line)
                }
            }
            return items
        }
        var pieces: [Piece] = []
        var separatorStart = text.startIndex
        var pieceStart = text.startIndex
        var index = text.startIndex

        /// Ends the current piece at `end` and starts the next after the whitespace from there.
        func cut(at end: Substring.Index) {
            if pieceStart < end {
                pieces.append(Piece(separator: text[separatorStart..<pieceStart], text: text[pieceStart..<end]))
                separatorStart = end
            }
            var next = end
            while next != text.endIndex, text[next].isWhitespace { next = text.index(after: next) }
            pieceStart = next
            index = next
        }

        // Leading whitespace belongs to no piece.
        while index != text.endIndex, text[index].isWhitespace, level != .line || text[index] == "\n" {
            index = text.index(after: index)
        }
        pieceStart = index
        separatorStart = index

        switch level {
        case .sentence:
            while index != text.endIndex {
                let character = text[index]
                var after = text.index(after: index)
                if "。！？".contains(character) {
                    cut(at: after)
                    continue
                }
                if character == "." || character == "!" || character == "?" || character == "…" {
                    while after != text.endIndex, ")\"'”’]»".contains(text[after]) { after = text.index(after: after) }
                    if after == text.endIndex || text[after].isWhitespace {
                        cut(at: after)
                        continue
                    }
                }
                index = text.index(after: index)
            }
        case .line:
            // Blank lines go into the separator; indentation stays with its line.
            while index != text.endIndex {
                guard text[index] == "\n" else {
                    index = text.index(after: index)
                    continue
                }
                var end = index
                while end > pieceStart, text[text.index(before: end)] == " " || text[text.index(before: end)] == "\t" {
                    end = text.index(before: end)
                }
                if pieceStart < end {
                    pieces.append(Piece(separator: text[separatorStart..<pieceStart], text: text[pieceStart..<end]))
                    separatorStart = end
                }
                // Skip the newline and any blank lines, but not the next line's indentation.
                var next = text.index(after: index)
                var lineStart = next
                while next != text.endIndex, text[next] == " " || text[next] == "\t" || text[next] == "\n" {
                    if text[next] == "\n" { lineStart = text.index(after: next) }
                    next = text.index(after: next)
                }
                pieceStart = next == text.endIndex ? next : lineStart
                index = pieceStart
            }
        case .word:
            while index != text.endIndex {
                if text[index].isWhitespace {
                    cut(at: index)
                } else {
                    index = text.index(after: index)
                }
            }
        case .item, .character:
            preconditionFailure("handled above and by appendCharacterUnits")
        }
        // The last piece, without trailing whitespace.
        var end = text.endIndex
        while end > pieceStart, text[text.index(before: end)].isWhitespace { end = text.index(before: end) }
        if pieceStart < end {
            pieces.append(Piece(separator: text[separatorStart..<pieceStart], text: text[pieceStart..<end]))
        }
        return pieces
    }
}
