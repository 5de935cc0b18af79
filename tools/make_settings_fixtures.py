"""Reference vectors for the sentence-transformers settings mcp-rag reads (pooling modes in both
config forms, Normalize or not, prompts for queries and passages, a prompt left out of the pooling,
do_lower_case, tokenizer files that disagree), computed by sentence-transformers itself on all-MiniLM-L6-v2's weights with each
variant's settings files. Writes Tests/EmbeddingsTests/Fixtures/settings/<variant>/: the settings
files, and expected.jsonl (each text's work, token ids and vector). EmbedderSettingsTests lays each
variant over the real model folder and checks mcp-rag's ids and vectors against these.

Needs PyTorch and sentence-transformers, in a virtual environment of their own (not the test one):

    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-fixtures.txt
    .venv-fixtures/bin/python tools/make_settings_fixtures.py --model-dir MODEL_DIR [--only VARIANT ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

FIXTURES = Path(__file__).resolve().parents[1] / "Tests" / "EmbeddingsTests" / "Fixtures" / "settings"

# Texts with what tokenisation and pooling must get right: accents and case, a final sigma, CJK,
# emoji, right-to-left script, code, and one long enough to be cut at max_seq_length.
TEXTS = [
    "How do I rotate the API keys every night?",
    "Ça coûte CHER à São Paulo: ÉLÈVE, ΟΔΥΣΣΕΥΣ.",
    "東京の天気は晴れ 😀 and مرحبا بالعالم",
    "def rotate(keys: list[str]) -> None:  # TODO",
    "A",
    " ".join(["Parking permits are issued by the town hall on weekdays."] * 30),
]

MINI_LM_MODULES = [("", "sentence_transformers.models.Transformer"), ("1_Pooling", "sentence_transformers.models.Pooling"),
                   ("2_Normalize", "sentence_transformers.models.Normalize")]
ST6_MODULES = [("", "sentence_transformers.base.modules.transformer.Transformer"),
               ("1_Pooling", "sentence_transformers.sentence_transformer.modules.pooling.Pooling"),
               ("2_Normalize", "sentence_transformers.base.modules.normalize.Normalize")]


def legacy_pooling(mode: str) -> dict:
    names = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
             "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens"}
    return {"word_embedding_dimension": 384} | {flag: name == mode for name, flag in names.items()}


# Each variant: its modules, pooling config, prompts, sentence_bert_config and tokenizer changes.
VARIANTS = {
    # bge's shape: CLS pooling, normalised, an instruction before queries only.
    "cls-query-instruction": {
        "modules": MINI_LM_MODULES, "pooling": legacy_pooling("cls"),
        "prompts": {"query": "Represent this sentence for searching relevant passages: "}},
    # e5's shape: mean pooling, "query: " and "passage: ".
    "mean-e5-prefixes": {
        "modules": MINI_LM_MODULES, "pooling": legacy_pooling("mean"),
        "prompts": {"query": "query: ", "passage": "passage: "}},
    # sentence-transformers 6's own names and form; no Normalize.
    "max-st6-unnormalized": {
        "modules": ST6_MODULES[:2], "pooling": {"embedding_dimension": 384, "pooling_mode": "max", "include_prompt": True}},
    "mean-sqrt-len": {"modules": MINI_LM_MODULES, "pooling": legacy_pooling("mean_sqrt_len_tokens")},
    "weightedmean": {"modules": ST6_MODULES, "pooling": {"embedding_dimension": 384, "pooling_mode": "weightedmean"}},
    "lasttoken": {"modules": ST6_MODULES, "pooling": {"embedding_dimension": 384, "pooling_mode": ["lasttoken"]}},
    # The prompt left out of the pooling (INSTRUCTOR's way).
    "prompt-excluded": {
        "modules": MINI_LM_MODULES, "pooling": {"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": False},
        "prompts": {"query": "Find the passage that answers: ", "document": "", "passage": "Passage: "}},
    # A default prompt for everything, and do_lower_case over a tokenizer that keeps case (in both
    # the files that describe it).
    "default-prompt-lowercased": {
        "modules": MINI_LM_MODULES, "pooling": legacy_pooling("mean"),
        "prompts": {"everything": "Text: "}, "default_prompt_name": "everything",
        "sbert": {"max_seq_length": 128, "do_lower_case": True},
        "tokenizer": {"tokenizer_json": {"lowercase": False, "strip_accents": False},
                      "tokenizer_config": {"do_lower_case": False, "strip_accents": False}}},
    # The two tokenizer files disagree: transformers builds BERT's normaliser from
    # tokenizer_config.json. It says keep case and accents; tokenizer.json says lower-case.
    "tokenizer-config-keeps-case": {
        "modules": MINI_LM_MODULES, "pooling": legacy_pooling("mean"),
        "tokenizer": {"tokenizer_config": {"do_lower_case": False, "strip_accents": False}}},
    # tokenizer.json keeps case, tokenizer_config.json is silent and names no class (transformers
    # takes BERT's from config.json's model_type): transformers' defaults lower-case.
    "tokenizer-config-silent": {
        "modules": MINI_LM_MODULES, "pooling": legacy_pooling("mean"),
        "tokenizer": {"tokenizer_json": {"lowercase": False, "strip_accents": False},
                      "tokenizer_config": {"do_lower_case": None, "strip_accents": None, "tokenize_chinese_chars": None,
                                           "tokenizer_class": None}}},
}


def settings_files(variant: dict) -> dict[str, str]:
    """The variant's files, by path inside the model folder."""
    files = {
        "modules.json": json.dumps([{"idx": index, "name": str(index), "path": path, "type": kind}
                                    for index, (path, kind) in enumerate(variant["modules"])], indent=2),
        "1_Pooling/config.json": json.dumps(variant["pooling"], indent=2),
        "sentence_bert_config.json": json.dumps(variant.get("sbert", {"max_seq_length": 256, "do_lower_case": False}), indent=2),
    }
    if "prompts" in variant:
        files["config_sentence_transformers.json"] = json.dumps(
            {"prompts": variant["prompts"], "default_prompt_name": variant.get("default_prompt_name")}, indent=2)
    if "tokenizer" in variant:
        files["variant.json"] = json.dumps(variant["tokenizer"], indent=2)
    return files


def resolved_prompt(variant: dict, work: str) -> str:
    """The prompt mcp-rag documents for `work` (EmbeddingPrompts): query, else the default; for
    passages the first non-empty of document, passage, corpus, else the default."""
    prompts = variant.get("prompts", {})
    default = prompts.get(variant["default_prompt_name"], "") if variant.get("default_prompt_name") else ""
    names = ["query"] if work == "query" else ["document", "passage", "corpus"]
    return next((prompts[name] for name in names if prompts.get(name)), default)


def lay_out(model_dir: Path, variant: dict, folder: Path) -> None:
    """The real model folder's transformer files with the variant's settings files."""
    for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"]:
        shutil.copy(model_dir / name, folder / name)
    for name, text in settings_files(variant).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text + "\n")
    change = variant.get("tokenizer", {})
    if "tokenizer_json" in change:
        # tokenizer.json's normaliser, changed.
        tokenizer = json.loads((folder / "tokenizer.json").read_text())
        tokenizer["normalizer"].update(change["tokenizer_json"])
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    if "tokenizer_config" in change:
        # tokenizer_config.json's settings, changed; null takes the setting out.
        config = json.loads((folder / "tokenizer_config.json").read_text())
        for key, value in change["tokenizer_config"].items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        (folder / "tokenizer_config.json").write_text(json.dumps(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="the all-MiniLM-L6-v2 folder tools/fetch-model installed")
    parser.add_argument("--only", action="append", choices=sorted(VARIANTS), help="make this variant alone (repeatable)")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    model_dir = Path(arguments.model_dir)
    chosen = arguments.only or list(VARIANTS)
    for name in chosen if arguments.only else []:
        shutil.rmtree(FIXTURES / name, ignore_errors=True)
    if not arguments.only:
        shutil.rmtree(FIXTURES, ignore_errors=True)
    for name in chosen:
        variant = VARIANTS[name]
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            lay_out(model_dir, variant, folder)
            model = SentenceTransformer(str(folder), device="cpu")
            target = FIXTURES / name
            target.mkdir(parents=True)
            for path, text in settings_files(variant).items():
                (target / path).parent.mkdir(parents=True, exist_ok=True)
                (target / path).write_text(text + "\n")
            lines = []
            for work in ("query", "passage"):
                prompt = resolved_prompt(variant, work)
                vectors = model.encode(TEXTS, prompt=prompt, convert_to_numpy=True, batch_size=1)
                for text, vector in zip(TEXTS, vectors):
                    ids = model.preprocess([prompt + text])["input_ids"][0].tolist()
                    lines.append(json.dumps({"text": text, "work": work, "input_ids": ids,
                                             "embedding": [float(f"{value:.8g}") for value in vector.tolist()]},
                                            ensure_ascii=False))
            (target / "expected.jsonl").write_text("\n".join(lines) + "\n")
            print(name, len(lines), "vectors")


if __name__ == "__main__":
    main()
