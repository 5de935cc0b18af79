#!/usr/bin/env python3
"""Differential test: the Swift BertTokenizer against Hugging Face `tokenizers`.

Needs a Python with `tokenizers` (the ids of record come from tokenizers 0.23.3; tools/setup puts it
in .venv) and Swift 6.1+ on PATH. It never builds the main package: it copies
Sources/Embeddings/Tokenizer/*.swift and Sources/Embeddings/Model/ModelLoadError.swift into a
throw-away package (--build-dir), adds a small driver, builds it in release mode, and feeds the same
texts to both sides.

    .venv/bin/python tools/tokenizer-diff.py --model-dir "$MCP_RAG_MODEL_DIR"     # 5000 random texts
    .venv/bin/python tools/tokenizer-diff.py --model-dir DIR --count 20000 --seed 7
    .venv/bin/python tools/tokenizer-diff.py --code-points    # every code point, 4 settings (~1 min)
    .venv/bin/python tools/tokenizer-diff.py --emit-decompositions > body.txt
        # regenerates the table inside Sources/Embeddings/Tokenizer/CanonicalDecomposition.swift

Random texts mix ASCII prose, punctuation, accented Latin (composed and decomposed), Greek,
Cyrillic, CJK, Hangul, emoji old and new, ZWJ sequences, zero-width and control characters,
combining marks, full-width forms, Turkish I, German sharp s, ligatures, unassigned and private-use
code points, very long words and literal special tokens. Each mismatch is printed with the text.
`--code-points` builds a vocabulary holding every code point (and "##" + every code point), so the
ids spell out exactly what the normaliser and pre-tokeniser made of each character.
Exit status: 0 when every text matches, 1 otherwise.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRIVER = r'''
import Embeddings
import Foundation

// driver model <modelDir> <texts.jsonl> <out.txt>
// driver vocab <vocab.json> <lowercase 0|1> <strip 0|1|-> <chinese 0|1> <clean 0|1> <texts.jsonl> <out.txt>
let args = CommandLine.arguments
func readTexts(_ path: String) throws -> [String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try data.split(separator: UInt8(ascii: "\n")).map { line in
        guard let text = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) as? String
        else { throw CocoaError(.fileReadCorruptFile) }
        return text
    }
}
let tokenizer: BertTokenizer
let textsPath: String
let outPath: String
if args[1] == "model" {
    tokenizer = try BertTokenizer(modelDirectory: URL(fileURLWithPath: args[2]))
    textsPath = args[3]
    outPath = args[4]
} else {
    let data = try Data(contentsOf: URL(fileURLWithPath: args[2]))
    guard let vocab = try JSONSerialization.jsonObject(with: data) as? [String] else { exit(2) }
    let strip: Bool? = args[4] == "-" ? nil : args[4] == "1"
    tokenizer = try BertTokenizer(
        vocabulary: vocab, lowercase: args[3] == "1", stripAccents: strip,
        handleChineseChars: args[5] == "1", cleanText: args[6] == "1")
    textsPath = args[7]
    outPath = args[8]
}
var out = ""
for text in try readTexts(textsPath) {
    out += tokenizer.encode(text, maxLength: Int(Int32.max)).map(String.init).joined(separator: " ")
    out += "\n"
}
try out.write(toFile: outPath, atomically: false, encoding: .utf8)
'''

PACKAGE = '''// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "tokenizer-diff",
    targets: [
        .target(name: "Embeddings"),
        .executableTarget(name: "driver", dependencies: ["Embeddings"]),
    ],
    swiftLanguageModes: [.v6]
)
'''

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def build_driver(root, build_dir):
    """Copies the tokenizer sources into a scratch package and builds the driver in release."""
    sources = sorted((root / "Sources/Embeddings/Tokenizer").glob("*.swift"))
    sources.append(root / "Sources/Embeddings/Model/ModelLoadError.swift")
    target = build_dir / "Sources/Embeddings"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {s.name for s in sources}
    for old in target.glob("*.swift"):
        if old.name not in wanted:
            old.unlink()
    for source in sources:
        write_if_changed(target / source.name, source.read_text())
    write_if_changed(build_dir / "Sources/driver/main.swift", DRIVER)
    write_if_changed(build_dir / "Package.swift", PACKAGE)
    subprocess.run(["swift", "build", "-c", "release", "--product", "driver"], cwd=build_dir, check=True)
    return build_dir / ".build/release/driver"


def run_swift(driver, args, texts):
    with tempfile.TemporaryDirectory() as tmp:
        texts_path = Path(tmp) / "texts.jsonl"
        out_path = Path(tmp) / "out.txt"
        with open(texts_path, "w") as f:
            for text in texts:
                f.write(json.dumps(text, ensure_ascii=True) + "\n")
        subprocess.run([str(driver)] + args + [str(texts_path), str(out_path)], check=True)
        lines = out_path.read_text().split("\n")[:-1]
    return [[int(x) for x in line.split()] for line in lines]


def compare(label, texts, hf_ids, swift_ids, show=20):
    if len(hf_ids) != len(swift_ids):
        print(f"{label}: {len(hf_ids)} results from HF but {len(swift_ids)} from Swift")
        return len(texts)
    bad = 0
    for text, a, b in zip(texts, hf_ids, swift_ids):
        if a != b:
            bad += 1
            if bad <= show:
                first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                print(f"MISMATCH {label}: {text[:200]!r}\n  at {first}: hf {a[max(0, first - 3):first + 6]} swift {b[max(0, first - 3):first + 6]}")
    print(f"{label}: {len(texts)} texts, {bad} mismatches")
    return bad


# ---------------------------------------------------------------- random texts

WORDS = ("the of and to in is was for on that with as by at from his her they this are have not "
         "but had which were one all their there been has more when would who will also other into "
         "Tokenizer embeddings vector database Swift Python server request index query model GPU "
         "unbelievable internationalization photosynthesis antidisestablishmentarianism").split()


def rand_range(rng, lo, hi):
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF:  # a lone surrogate is not text in Swift or Rust
            return chr(c)


def fragment(rng):
    kind = rng.randrange(32)
    if kind < 8:
        w = rng.choice(WORDS)
        return rng.choice([w, w.upper(), w.capitalize(), w.swapcase()])
    if kind == 8:
        return "".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(rng.randint(1, 4)))
    if kind == 9:
        return str(rng.randint(0, 10 ** rng.randint(1, 12))) + rng.choice(["", ".5", ",000", "%", "th"])
    if kind == 10:  # accented Latin, composed or decomposed, any case
        w = "".join(rng.choice("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŁłŒœŠšŽžĞğŞşĀāĒēǍǎȘșẞßıİǅǈǋ") for _ in range(rng.randint(1, 8)))
        return unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC"]), w) if rng.random() < 0.5 else w
    if kind == 11:  # Vietnamese / stacked diacritics
        return "".join(rng.choice("ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ") for _ in range(rng.randint(1, 5)))
    if kind == 12:  # Greek with final sigma, tonos, Cyrillic
        return rng.choice(["ΟΔΥΣΣΕΥΣ", "Ὀδυσσεύς", "ΣΊΣΥΦΟΣ", "σοφία", "ΐΰ", "Привет", "МИР", "Ёлка", "ҐЄЇ", "Ѐѝ"])
    if kind == 13:  # CJK ideographs across all the ranges, kana, punctuation
        pools = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
                 (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0x3040, 0x30FF), (0x3000, 0x303F),
                 (0x30000, 0x3134F), (0x2CEB0, 0x2EBEF)]
        return "".join(rand_range(rng, *rng.choice(pools)) for _ in range(rng.randint(1, 6)))
    if kind == 14:  # Hangul syllables and jamo
        return "".join(rand_range(rng, *rng.choice([(0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)])) for _ in range(rng.randint(1, 5)))
    if kind == 15:  # emoji: old, new, ZWJ, skin tones, flags, keycaps, variation selectors
        return rng.choice(["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "#️⃣", "❤️", "🥰", "🫠", "🫶🏿", "🪿", "🩷", "🛜", "🙂‍↔️",
                           "🧑🏽‍💻", "☺︎", "⌚", "🫨", "🐦‍🔥", "🍋‍🟩", "\U0001FAE8", "\U0001FABF", "\U0001FA89"])
    if kind == 16:  # zero-width, bidi, format and control characters
        return "".join(rng.choice(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u200e", "\u200f", "\u202a",
                                   "\u202e", "\u2066", "\u2069", "\u00ad", "\u061c", "\u0600", "\u06dd", "\u070f", "\u08e2",
                                   "\u0890", "\U000110bd", "\U000110cd", "\U00013430", "\U0001343f", "\U000e0001", "\U000e0041",
                                   "\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\ufffd",
                                   "\ufe0f", "\U000e0100", "\ufff9", "\ufffb"]) for _ in range(rng.randint(1, 3)))
    if kind == 17:  # whitespace of every kind
        return "".join(rng.choice(["\t", "\n", "\r", "\r\n", "\u00a0", "\u1680", "\u2000", "\u2003", "\u2009", "\u200a",
                                   "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", " "]) for _ in range(rng.randint(1, 3)))
    if kind == 18:  # combining marks after letters, old and new, stacked in any order
        base = rng.choice("aeiouAEIOUnNcCsS一あ가1.")
        marks = [rng.choice(["\u0301", "\u0300", "\u0308", "\u0316", "\u0327", "\u0328", "\u0345", "\u035c", "\u0483",
                             "\u0591", "\u05b0", "\u064b", "\u0670", "\u093c", "\u094d", "\u0e38", "\u1ab0", "\u1abe",
                             "\u1ac1", "\u1dc0", "\u1df7", "\u1dfa", "\u20d0", "\u20e3", "\ufe20", "\U0001e4ec",
                             "\U0001e944", "\U00011442", "\u0d3b", "\U0001d165", "\U0001d16d", "\u0f39", "\u0903",
                             "\u1734", "\U0001171e", "\u1885", "\ua9bd", "\U000111c9", "\u0b3e", "\u302a", "\u3099"])
                 for _ in range(rng.randint(1, 4))]
        return base + "".join(marks)
    if kind == 19:  # full-width and half-width forms
        return "".join(rand_range(rng, 0xFF01, 0xFFEE) for _ in range(rng.randint(1, 6)))
    if kind == 20:  # case and compatibility oddities
        return rng.choice(["İstanbul", "ıi", "I\u0307", "straße", "STRASSE", "ﬁnance", "ﬂow", "ﬀ", "ﬃ", "ǅemal", "K", "Ω", "Å",
                           "Ⅻ", "ⓐⒶ", "x²", "𝐀𝐁𝐂", "ᏣᎳᎩ", "ꭰ", "ᲐᲑᲒ", "ⰀⰁ", "𐐀𐐨", "𞤀𞤢", "ſ", "ǰ", "ΐ", "ᾳ", "ᾼ", "Ⱥ", "ꟹ",
                           "\u1e9e", "\U00016e40", "\U0001e900", "\u13f8", "\ua7c0", "\U00010570", "\u2c2f"])
    if kind == 21:  # unassigned, noncharacters, private use
        return "".join(rng.choice(["\u0378", "\u2fe0", "\ufdd0", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\ue000",
                                   "\uf8ff", "\U000f0000", "\U00100000", rand_range(rng, 0x30000, 0xDFFFF),
                                   rand_range(rng, 0x0, 0x2FFFF)]) for _ in range(rng.randint(1, 3)))
    if kind == 22:  # words around the 100-character limit
        n = rng.choice([99, 100, 101, 102, 150, 400])
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))
    if kind == 23:
        return "é" * rng.choice([99, 100, 101]) if rng.random() < 0.5 else "e\u0301" * rng.choice([50, 51, 99, 100])
    if kind == 24:  # literal special tokens, near misses
        return rng.choice(["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[mask]", "[Mask]", "[CLS", "CLS]", "[[MASK]]",
                           "[MASK][MASK]", "a[SEP]b", "x[UNK]y", "[MÁSK]", "[ MASK ]", "［MASK］", "[MASK]\u0301",
                           "\u0301[MASK]", "<s>", "</s>", "<pad>", "<unk>", " <mask>", "  <mask> ", "a<mask>b", "<MASK>",
                           "＜ｍａｓｋ＞", "<mask>\u0301", "\t<mask>", "<s><mask></s>"])
    if kind == 25:
        return rng.choice(["https://example.com/a?b=c&d=e#f", "user.name+tag@example.co.uk", "C:\\Program Files\\x.exe",
                           "let x: [Int] = [1, 2, 3]", "SELECT * FROM t WHERE a <> 'b';", "def f(x): return x**2",
                           "v1.2.3-beta+build.5", "#hashtag", "@mention", "$100.00", "e=mc^2", "(╯°□°)╯︵ ┻━┻"])
    if kind == 26:  # scripts with marks: Devanagari, Arabic, Hebrew, Thai, Tamil
        return rng.choice(["नमस्ते", "हिन्दी", "مرحبا", "السَّلَامُ", "שָׁלוֹם", "สวัสดี", "வணக்கம்", "ᜃᜓ", "ꦲꦏ꦳ꦽ", "ᠮᠣᠩᠭᠣᠯ"])
    if kind == 27:  # any BMP character
        return chr(rng.choice([rng.randint(0x80, 0xD7FF), rng.randint(0xE000, 0xFFFF)]))
    if kind == 28:  # any supplementary character
        return rand_range(rng, 0x10000, 0x10FFFF)
    if kind == 29:
        return rng.choice(WORDS) + rng.choice(["'s", "n't", "'re", "-", "_", "..."]) + rng.choice(WORDS)
    if kind == 30:  # punctuation outside ASCII, including recategorised ones
        return rng.choice(["¿", "¡", "«", "»", "“", "”", "‘", "’", "—", "–", "…", "·", "§", "¶", "※", "、", "。", "「", "」",
                           "᙭", "\u166d", "\U000111c9", "\u2e52", "\u2e5d", "\U00010f86", "\u061d", "\u0f14", "\uff5f",
                           "\u00b7", "\u0387", "\u037e", "\u1fef", "\u2e3a"])
    return rng.choice(WORDS) + str(rng.randint(0, 99))


def random_text(rng):
    if rng.random() < 0.02:
        return rng.choice(["", " ", "\n\t ", "\u200b", "\x00", "\u3000"])
    parts = [fragment(rng) for _ in range(rng.randint(1, 40))]
    out = []
    for part in parts:
        out.append(part)
        out.append(rng.choice([" ", " ", " ", " ", "", "\n", ", ", ". ", "\t"]))
    return "".join(out)


def diff_model(args, driver):
    from tokenizers import Tokenizer
    rng = random.Random(args.seed)
    texts = [random_text(rng) for _ in range(args.count)]
    tokenizer = Tokenizer.from_file(str(Path(args.model_dir) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    hf = [e.ids for e in tokenizer.encode_batch(texts)]
    bad = compare("tokenizer.json", texts, hf, run_swift(driver, ["model", str(args.model_dir)], texts))
    # The vocab.txt path must give the same ids: load it alone from a scratch folder.
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(Path(args.model_dir) / "vocab.txt", Path(tmp) / "vocab.txt")
        bad += compare("vocab.txt", texts, hf, run_swift(driver, ["model", tmp], texts))
    return bad


# ---------------------------------------------------------------- every code point

def all_code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def diff_code_points(driver):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    cps = all_code_points()
    vocab = SPECIALS + [chr(c) for c in cps] + ["##" + chr(c) for c in cps]
    vocab_map = {t: i for i, t in enumerate(vocab)}
    # "a X b" shows what X became; pairs of combining marks show canonical reordering.
    words = ["a" + chr(c) + "b" for c in cps] + [chr(c) for c in range(0x80, 0x3400)]
    marks = [c for c in cps if unicodedata.combining(chr(c))] + [0x1AC1, 0x1E4EC, 0x1E4EF, 0x10EFD, 0x16FF0, 0x11F41]
    probes = [0x301, 0x316, 0x327, 0x93C, 0x5B0, 0x1DFA, 0x1D165, 0x1D16D, 0x11442, 0x1E944, 0x1AC1, 0x0345, 0x0F71, 0x0E38, 0x302A]
    words += ["o" + chr(m) + chr(p) + "x" for m in marks for p in probes]
    words += ["o" + chr(p) + chr(m) + "x" for m in marks for p in probes]
    texts = [" ".join(words[i:i + 64]) for i in range(0, len(words), 64)]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = Path(tmp) / "vocab.json"
        vocab_path.write_text(json.dumps(vocab, ensure_ascii=True))
        bad = 0
        for lowercase, strip, chinese, clean in [(True, None, True, True), (False, None, True, True),
                                                 (False, True, False, False), (True, False, False, False)]:
            tokenizer = Tokenizer(models.WordPiece(vocab_map, unk_token="[UNK]", max_input_chars_per_word=100))
            tokenizer.normalizer = normalizers.BertNormalizer(
                clean_text=clean, handle_chinese_chars=chinese, strip_accents=strip, lowercase=lowercase)
            tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tokenizer.post_processor = processors.TemplateProcessing(
                single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
            tokenizer.add_special_tokens(SPECIALS)
            hf = [e.ids for e in tokenizer.encode_batch(texts)]
            flags = ["1" if lowercase else "0", "-" if strip is None else ("1" if strip else "0"),
                     "1" if chinese else "0", "1" if clean else "0"]
            swift = run_swift(driver, ["vocab", str(vocab_path)] + flags, texts)
            bad += compare(f"code points lowercase={lowercase} strip={strip} chinese={chinese} clean={clean}",
                           texts, hf, swift, show=10)
    return bad


def emit_decompositions():
    from tokenizers.normalizers import NFD
    nfd = NFD()
    parts = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        d = nfd.normalize_str(chr(cp))
        if d != chr(cp):
            parts.append("%X:%s" % (cp, ",".join("%X" % ord(x) for x in d)))
    lines, current = [], ""
    for part in parts:
        if len(current) + len(part) + 1 > 96:
            lines.append(current)
            current = ""
        current += part + ";"
    lines.append(current)
    print("\n".join("    " + line for line in lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", help="folder with tokenizer.json and vocab.txt (random-text mode)")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--code-points", action="store_true", help="check every code point instead")
    parser.add_argument("--emit-decompositions", action="store_true")
    parser.add_argument("--root", default=str(ROOT), help="package whose Sources/Embeddings to test")
    parser.add_argument("--build-dir", default=os.path.join(tempfile.gettempdir(), "tokenizer-diff-build"))
    args = parser.parse_args()
    if args.emit_decompositions:
        emit_decompositions()
        return 0
    if not args.code_points and not args.model_dir:
        parser.error("give --model-dir (random texts) or --code-points")
    driver = build_driver(Path(args.root), Path(args.build_dir))
    bad = diff_code_points(driver) if args.code_points else diff_model(args, driver)
    print("OK: no mismatches" if bad == 0 else f"FAILED: {bad} mismatches")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
