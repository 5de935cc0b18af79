"""Tiny sentence-transformers models of each transformer family mcp-rag runs, with random weights
and tokenizers trained here, and what sentence-transformers computes with them: the fixtures that
prove mcp-rag exact on architectures whose published weights these machines cannot download.

Writes Tests/EmbeddingsTests/Fixtures/families/<family>/: the whole model folder as
sentence-transformers saves it, and expected.jsonl (each text's work, token ids and vector).
FamilyFixtureTests loads each folder and checks mcp-rag's ids (identical) and vectors (cosine at
least 0.99999) against these, on the CPU and on the GPU path's host emulation.

- bert-cls: BERT with a WordPiece tokenizer trained here, CLS pooling, Normalize, a query
  instruction (bge's shape);
- bert-mean-e5: BERT, mean pooling, Normalize, "query: " and "passage: " (e5's shape), another width;
- roberta-bpe: RoBERTa with a byte-level BPE tokenizer trained here (RoBERTa's pre-tokenizer,
  `<s> … </s>`, `<mask>` stripping the space before it, positions counted from padding_idx + 1),
  mean pooling, Normalize;
- xlmr-unigram: XLM-RoBERTa with a SentencePiece Unigram model trained here by sentencepiece
  (`nmt_nfkc` rules, so a `Precompiled` normaliser), saved as transformers 5 saves it (Precompiled;
  WhitespaceSplit and Metaspace), mean pooling, Normalize, e5's prefixes (multilingual-e5's shape);
- xlmr-unigram-hub: the same with the normaliser and pre-tokenizer the Hub's XLM-RoBERTa and
  multilingual-e5 files carry (Precompiled, then runs of spaces made one; Metaspace with
  add_prefix_space), which older converters wrote, and which transformers 5 replaces with its own
  (see `hub_style`).

`--only FAMILY` (repeatable) makes those alone and leaves the others' folders as they are: the
WordPiece and BPE trainers of `tokenizers` break ties in no fixed order, so a new run gives other
(equally valid) vocabularies.

Needs PyTorch, transformers and sentence-transformers in a virtual environment of their own:

    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-fixtures.txt
    .venv-fixtures/bin/python tools/make_family_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer, models
from tokenizers import AddedToken as TokenizerAddedToken
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers import models as token_models
from transformers import (AddedToken, BertConfig, BertModel, BertTokenizerFast, RobertaConfig, RobertaModel,
                          RobertaTokenizerFast, XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast)

FIXTURES = Path(__file__).resolve().parents[1] / "Tests" / "EmbeddingsTests" / "Fixtures" / "families"
SEED = 20261206

# What tokenisation, positions and pooling must get right: accents, case and combining marks, CJK,
# emoji, right-to-left script, code, contractions, odd whitespace, special tokens written in the
# text (RoBERTa counts positions past a literal <pad> differently), numbers, and texts from one
# token to past the 512-token window.
TEXTS = [
    "A",
    "How do I rotate the API keys every night?",
    "Ça coûte CHER à São Paulo: ÉLÈVE, ΟΔΥΣΣΕΥΣ, e\u0301 and A\u030a.",
    "東京の天気は晴れ 😀 and مرحبا بالعالم, שלום עולם",
    "def rotate(keys: list[str]) -> None:\n\treturn {k: v for k, v in keys}  # TODO",
    "It's what they're saying: we'll see, I've been told you'd've KNOWN it'S true.",
    "  leading and trailing spaces  \n\n multiple   spaces\t\ttabs \u00a0nbsp zero\u200bwidth ",
    "text with <mask> and </s> inside, <pad> here, [CLS] and [MASK] too",
    "Version 2.15.0 costs $1,234.56 (≈ €1.100) on 2026-12-06; 42nd street, ½ off ²³.",
    " ".join(["Parking permits are issued by the town hall on weekdays, except in August."] * 40),
]

# The corpus the tokenizers are trained on: the texts, and prose around them.
CORPUS = TEXTS * 20 + [
    "The knowledge base answers questions about configuration, deployment and retrieval.",
    "Les fichiers sont indexés chaque nuit; la recherche sémantique complète les mots-clés.",
    "Die Vektoren werden normalisiert, bevor sie gespeichert werden.",
    "検索はキーワードとベクトルの両方で行われます。",
    "البحث الدلالي يكمل البحث بالكلمات المفتاحية",
    "for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }",
] * 40


def wordpiece_tokenizer(folder: Path) -> BertTokenizerFast:
    tokenizer = Tokenizer(token_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")),
                                                 ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    tokenizer.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                             cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True)
    fast.save_pretrained(folder)
    return fast


def byte_level_bpe_tokenizer(folder: Path) -> RobertaTokenizerFast:
    tokenizer = Tokenizer(token_models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=1000, special_tokens=specials,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    # As roberta-base's: <mask> takes the space before it.
    tokenizer.add_special_tokens([TokenizerAddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    fast = RobertaTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, special=True))
    fast.save_pretrained(folder)
    return fast


FAMILIES = {
    "bert-cls": {
        "tokenizer": wordpiece_tokenizer,
        "model": lambda vocab: BertModel(BertConfig(vocab_size=vocab, hidden_size=48, num_hidden_layers=2,
                                                    num_attention_heads=4, intermediate_size=96,
                                                    max_position_embeddings=512, initializer_range=0.2)),
        "pooling": "cls", "max_seq_length": 512,
        "prompts": {"query": "Represent this sentence for searching relevant passages: ", "document": ""},
    },
    "bert-mean-e5": {
        "tokenizer": wordpiece_tokenizer,
        "model": lambda vocab: BertModel(BertConfig(vocab_size=vocab, hidden_size=40, num_hidden_layers=3,
                                                    num_attention_heads=5, intermediate_size=72,
                                                    max_position_embeddings=512, initializer_range=0.2)),
        "pooling": "mean", "max_seq_length": 512, "prompts": {"query": "query: ", "passage": "passage: "},
    },
    "roberta-bpe": {
        "tokenizer": byte_level_bpe_tokenizer,
        "model": lambda vocab: RobertaModel(RobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                                          num_attention_heads=4, intermediate_size=64,
                                                          max_position_embeddings=514, type_vocab_size=1,
                                                          pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                                          initializer_range=0.2), add_pooling_layer=False),
        "pooling": "mean", "max_seq_length": 512, "prompts": {},
    },
}


def unigram_tokenizer(folder: Path) -> XLMRobertaTokenizerFast:
    import sentencepiece
    from transformers.convert_slow_tokenizer import XLMRobertaConverter

    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.txt"
        corpus.write_text("\n".join(CORPUS), encoding="utf-8")
        sentencepiece.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(scratch) / "spm"), vocab_size=400, model_type="unigram",
            hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="nmt_nfkc", minloglevel=2,
            num_threads=1)

        class Original:
            # What the converter reads of a slow XLM-RoBERTa tokenizer.
            vocab_file = str(Path(scratch) / "spm.model")

            def convert_tokens_to_ids(self, token):
                return {"<s>": 0, "</s>": 2}[token]

        tokenizer = XLMRobertaConverter(Original()).converted()
    fast = XLMRobertaTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                   mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, special=True))
    fast.save_pretrained(folder)
    return fast


def xlmr_model(vocab: int) -> XLMRobertaModel:
    return XLMRobertaModel(XLMRobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=48, max_position_embeddings=514, type_vocab_size=1,
                                            pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
                                            initializer_range=0.2), add_pooling_layer=False)


FAMILIES["xlmr-unigram"] = {"tokenizer": unigram_tokenizer, "model": xlmr_model, "pooling": "mean",
                            "max_seq_length": 512, "prompts": {"query": "query: ", "passage": "passage: "}}
FAMILIES["xlmr-unigram-hub"] = {"tokenizer": unigram_tokenizer, "model": xlmr_model, "pooling": "mean",
                                "max_seq_length": 512, "prompts": {"query": "query: ", "passage": "passage: "},
                                "rewrite": "hub"}


def hub_style(tokenizer_json: Path) -> None:
    """The normaliser and pre-tokenizer the Hub's XLM-RoBERTa and multilingual-e5 files carry (older
    converters wrote them): Precompiled, then runs of spaces made one; Metaspace with
    add_prefix_space; and <mask> matched in the normalised text. transformers 5 does not run them: its XLMRobertaTokenizer keeps the charsmap
    and puts its own pipeline around it, and that is what sentence-transformers computes with."""
    state = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    charsmap = state["normalizer"]
    assert charsmap["type"] == "Precompiled", charsmap["type"]
    state["normalizer"] = {"type": "Sequence", "normalizers": [
        charsmap, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    state["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                              "prepend_scheme": "always"}
    # The Hub's files match <mask> in the normalised text.
    for token in state["added_tokens"]:
        if token["content"] == "<mask>":
            token["normalized"] = True
    tokenizer_json.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")


def resolved_prompt(prompts: dict, work: str) -> str:
    """The prompt mcp-rag documents for `work`: query; for passages the first non-empty of
    document, passage, corpus."""
    names = ["query"] if work == "query" else ["document", "passage", "corpus"]
    return next((prompts[name] for name in names if prompts.get(name)), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(FAMILIES), help="make this family alone")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    for name, family in FAMILIES.items():
        if arguments.only and name not in arguments.only:
            continue
        shutil.rmtree(FIXTURES / name, ignore_errors=True)
        torch.manual_seed(SEED)
        with tempfile.TemporaryDirectory() as scratch:
            transformer_dir = Path(scratch) / "transformer"
            tokenizer = family["tokenizer"](transformer_dir)
            model = family["model"](len(tokenizer))
            model.eval()
            model.save_pretrained(transformer_dir, safe_serialization=True)
            transformer = models.Transformer(str(transformer_dir), max_seq_length=family["max_seq_length"])
            pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode=family["pooling"])
            st = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu",
                                     prompts=family["prompts"] or None)
            target = FIXTURES / name
            st.save(str(target))
        if family.get("rewrite") == "hub":
            hub_style(target / "tokenizer.json")
        # What is computed is what the folder gives when loaded, as mcp-rag loads it.
        st = SentenceTransformer(str(target), device="cpu")
        lines = []
        for work in ("query", "passage"):
            prompt = resolved_prompt(family["prompts"], work)
            vectors = st.encode(TEXTS, prompt=prompt, convert_to_numpy=True, batch_size=1)
            for text, vector in zip(TEXTS, vectors):
                ids = st.preprocess([prompt + text])["input_ids"][0].tolist()
                lines.append(json.dumps({"text": text, "work": work, "input_ids": ids,
                                         "embedding": [float(f"{value:.8g}") for value in vector.tolist()]},
                                        ensure_ascii=False))
        (target / "expected.jsonl").write_text("\n".join(lines) + "\n")
        # What sentence-transformers writes beside the model that mcp-rag does not read.
        for extra in ["README.md"]:
            (target / extra).unlink(missing_ok=True)
        print(name, len(lines), "vectors", sum(f.stat().st_size for f in target.rglob("*") if f.is_file()), "bytes")


if __name__ == "__main__":
    main()
