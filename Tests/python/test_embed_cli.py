"""`mcp-rag embed` as a user pipes it: JSON strings in, one JSON object per line out."""

import importlib.util
import json
import math
import os
import random
import subprocess

import pytest

from conftest import ROOT


def run_embed(binary, lines, *args, env=None):
    return subprocess.run(
        [binary, "embed", *args],
        input="".join(line + "\n" for line in lines).encode("utf-8"),
        capture_output=True,
        env=env,
        timeout=300,
    )


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_golden_texts_match_sentence_transformers(binary, model_dir, golden):
    result = run_embed(binary, [json.dumps(case["text"]) for case in golden], "--model-dir", str(model_dir))
    assert result.returncode == 0, result.stderr.decode()
    outputs = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(outputs) == len(golden)
    for case, output in zip(golden, outputs):
        assert output["input_ids"] == case["input_ids"], case["text"]
        assert len(output["embedding"]) == 384
        assert cosine(output["embedding"], case["embedding"]) >= 0.99999, case["text"]
        assert max(abs(x - y) for x, y in zip(output["embedding"], case["embedding"])) <= 1e-4


def test_text_option_embeds_without_reading_stdin(binary, model_dir):
    result = subprocess.run(
        [binary, "embed", "--model-dir", str(model_dir), "--text", "hello world", "--text", "second"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert [json.loads(line)["input_ids"] for line in lines] == [[101, 7592, 2088, 102], [101, 2117, 102]]


def test_bad_lines_get_an_error_object_and_the_rest_still_embed(binary, model_dir):
    result = run_embed(binary, ['"first"', "not json", "42", '"last"'], "--model-dir", str(model_dir))
    assert result.returncode == 1
    outputs = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(outputs) == 4
    assert outputs[0]["input_ids"][0] == 101 and "embedding" in outputs[0]
    assert "line 2" in outputs[1]["error"] and "JSON" in outputs[1]["error"]
    assert "line 3" in outputs[2]["error"] and "string" in outputs[2]["error"]
    assert outputs[3]["input_ids"] == [101, 2197, 102]
    assert "line 2" in result.stderr.decode()


def test_missing_model_names_the_folders_and_the_fetch_command(binary, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MCP_RAG_MODEL_DIR", "HF_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(tmp_path)
    env["MCP_RAG_DATA_DIR"] = str(tmp_path / "data")
    result = run_embed(binary, ['"text"'], env=env)
    assert result.returncode != 0
    message = result.stderr.decode()
    assert str(tmp_path / "data" / "models" / "all-MiniLM-L6-v2") in message
    assert ".cache/huggingface/hub" in message
    assert "tools/fetch-model" in message
    assert result.stdout == b""


def _load_text_generator():
    spec = importlib.util.spec_from_file_location("tokenizer_diff", ROOT / "tools" / "tokenizer-diff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.random_text


FAMILIES = ROOT / "Tests" / "EmbeddingsTests" / "Fixtures" / "families"


@pytest.mark.parametrize("tokenizer", ["wordpiece", "byte-level-bpe", "unigram", "unigram-as-its-file-says"])
def test_ids_equal_hugging_face_tokenizers_on_random_unicode(binary, model_dir, tokenizer, tmp_path):
    """Differential test against the reference implementation on texts nobody chose by hand: MiniLM's
    WordPiece, the byte-level BPE of the RoBERTa fixture and the Unigram of the XLM-RoBERTa one
    (tools/make_family_fixtures.py), whose passages get "passage: " first. The last is the Hub's
    form of XLM-RoBERTa's file (Precompiled, then runs of spaces made one; Metaspace) with
    `tokenizer_config.json` naming no class, so that mcp-rag runs what the file says, as `tokenizers`
    does (for an XLMRobertaTokenizer it runs transformers 5's pipeline, as sentence-transformers 6)."""
    import shutil

    from tokenizers import Tokenizer

    folder, window, prompt = {
        "wordpiece": (model_dir, 256, ""),
        "byte-level-bpe": (FAMILIES / "roberta-bpe", 512, ""),
        "unigram": (FAMILIES / "xlmr-unigram", 512, "passage: "),
        "unigram-as-its-file-says": (FAMILIES / "xlmr-unigram-hub", 512, "passage: "),
    }[tokenizer]
    if tokenizer == "unigram-as-its-file-says":
        shutil.copytree(folder, tmp_path / "model")
        folder = tmp_path / "model"
        config = json.loads((folder / "tokenizer_config.json").read_text())
        del config["tokenizer_class"]
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    random_text = _load_text_generator()
    rng = random.Random(20261122)
    texts = [random_text(rng) for _ in range(1500)]
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.no_padding()
    reference.enable_truncation(window)
    expected = [encoding.ids for encoding in reference.encode_batch([prompt + text for text in texts])]

    result = run_embed(binary, [json.dumps(text) for text in texts], "--model-dir", str(folder))
    assert result.returncode == 0, result.stderr.decode()[:2000]
    actual = [json.loads(line)["input_ids"] for line in result.stdout.decode().splitlines()]
    assert len(actual) == len(texts)
    mismatches = [(text, e, a) for text, e, a in zip(texts, expected, actual) if e != a]
    assert not mismatches, f"{len(mismatches)} texts differ, first: {mismatches[0]!r}"


E5_SHAPED = ROOT / "Tests" / "EmbeddingsTests" / "Fixtures" / "settings" / "mean-e5-prefixes"


def e5_shaped_model(model_dir, folder):
    """An e5-shaped model folder ("query: " and "passage: " in config_sentence_transformers.json, made
    by tools/make_settings_fixtures.py) over the real model's weights and tokenizer."""
    folder.mkdir(parents=True)
    for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]:
        (folder / name).symlink_to(model_dir / name)
    for name in ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"]:
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes((E5_SHAPED / name).read_bytes())
    return folder


def test_queries_and_passages_get_the_models_prompts(binary, model_dir, tmp_path):
    """`--queries` embeds with the query prompt, the default with the passage prompt, each as
    sentence-transformers 6.2 did."""
    folder = e5_shaped_model(model_dir, tmp_path / "e5-shaped")
    expected = [json.loads(line) for line in (E5_SHAPED / "expected.jsonl").read_text().splitlines()]
    for work, flags in (("query", ["--queries"]), ("passage", [])):
        cases = [case for case in expected if case["work"] == work]
        result = run_embed(binary, [json.dumps(case["text"]) for case in cases], "--model-dir", str(folder), *flags)
        assert result.returncode == 0, result.stderr.decode()
        outputs = [json.loads(line) for line in result.stdout.decode().splitlines()]
        for case, output in zip(cases, outputs, strict=True):
            assert output["input_ids"] == case["input_ids"], (work, case["text"])
            assert cosine(output["embedding"], case["embedding"]) >= 0.99999, (work, case["text"])
    # The prompts made a difference: the same text's ids differ between the two.
    assert [case["input_ids"][1] for case in expected if case["work"] == "query"][0] != \
        [case["input_ids"][1] for case in expected if case["work"] == "passage"][0]


def test_a_model_named_by_its_repository_is_found_in_the_hugging_face_cache(binary, model_dir, tmp_path):
    """MCP_RAG_MODEL=owner/name serves the snapshot refs/main names in HF_HOME's cache; `mcp-rag model
    list` shows it serving beside the data folder's MiniLM, and a broken cached model with its reason."""
    hub = tmp_path / "hf" / "hub"
    e5_shaped_model(model_dir, hub / "models--acme--e5-shaped" / "snapshots" / "abc123")
    (hub / "models--acme--e5-shaped" / "refs").mkdir()
    (hub / "models--acme--e5-shaped" / "refs" / "main").write_text("abc123")
    broken = e5_shaped_model(model_dir, hub / "models--acme--pooled-twice" / "snapshots" / "def456")
    (broken / "1_Pooling" / "config.json").write_text('{"pooling_mode": ["cls", "mean"]}')
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "all-MiniLM-L6-v2").symlink_to(model_dir)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "MCP_RAG_DATA_DIR": str(data), "MCP_RAG_MODEL": "acme/e5-shaped"}

    listed = subprocess.run([binary, "model", "list", "--json"], capture_output=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr.decode()
    models = {model["name"]: model for model in json.loads(listed.stdout)}
    assert set(models) == {"all-MiniLM-L6-v2", "acme/e5-shaped", "acme/pooled-twice"}
    assert models["acme/e5-shaped"]["serves"] and models["acme/e5-shaped"]["queryPrompt"] == "query: "
    assert not models["all-MiniLM-L6-v2"]["serves"] and models["all-MiniLM-L6-v2"].get("problem") is None
    assert "concatenated" in models["acme/pooled-twice"]["problem"]

    expected = next(json.loads(line) for line in (E5_SHAPED / "expected.jsonl").read_text().splitlines()
                    if json.loads(line)["work"] == "query")
    result = run_embed(binary, [json.dumps(expected["text"])], "--queries", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["input_ids"] == expected["input_ids"]

    env["MCP_RAG_MODEL"] = "acme/not-downloaded"
    missing = run_embed(binary, ['"x"'], env=env)
    assert missing.returncode != 0
    assert b"mcp-rag model fetch acme/not-downloaded" in missing.stderr


def test_model_list_shows_what_would_serve_and_only_folders_it_can_run_as_runnable(binary, model_dir, tmp_path):
    """The folder MCP_RAG_MODEL_DIR chooses serves though it lies outside every folder searched; a
    folder whose tokenizer mcp-rag cannot run is listed with the reason embedding gives; with an
    embeddings API set, no folder serves and the list says the API does."""
    chosen = e5_shaped_model(model_dir, tmp_path / "elsewhere" / "e5-shaped")
    data = tmp_path / "data"
    wordlevel = data / "models" / "wordlevel"
    wordlevel.mkdir(parents=True)
    for name in ["config.json", "model.safetensors"]:
        (wordlevel / name).symlink_to(model_dir / name)
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4}
    (wordlevel / "tokenizer.json").write_text(json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocabulary, "unk_token": "[UNK]"}}))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "MCP_RAG_DATA_DIR": str(data),
           "MCP_RAG_MODEL_DIR": str(chosen)}

    listed = subprocess.run([binary, "model", "list", "--json"], capture_output=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr.decode()
    models = {model["name"]: model for model in json.loads(listed.stdout)}
    assert models["e5-shaped"]["serves"] and models["e5-shaped"]["source"] == "chosen folder"
    refused = run_embed(binary, ['"hello"'], "--model-dir", str(wordlevel), env=env)
    assert refused.returncode != 0 and b"WordLevel" in refused.stderr
    assert not models["wordlevel"]["serves"] and "WordLevel" in models["wordlevel"]["problem"], models["wordlevel"]

    # A data folder's model is chosen by the name the list gives it.
    e5_shaped_model(model_dir, data / "models" / "e5-here")
    named = {**env, "MCP_RAG_MODEL": "e5-here"}
    del named["MCP_RAG_MODEL_DIR"]
    listed = {model["name"]: model for model in json.loads(subprocess.run(
        [binary, "model", "list", "--json"], capture_output=True, env=named, timeout=60).stdout)}
    assert listed["e5-here"]["serves"] and listed["e5-here"]["queryPrompt"] == "query: "
    unknown = run_embed(binary, ['"x"'], env={**named, "MCP_RAG_MODEL": "not-here"})
    assert unknown.returncode != 0 and b"no model folder in" in unknown.stderr
    refused = run_embed(binary, ['"x"'], env={**named, "MCP_RAG_MODEL": "../models/e5-here"})
    assert refused.returncode != 0 and b"owner/name" in refused.stderr

    env.update({"MCP_RAG_EMBEDDINGS_URL": "http://127.0.0.1:9/v1", "MCP_RAG_EMBEDDINGS_MODEL": "e5-served"})
    served = subprocess.run([binary, "model", "list", "--json"], capture_output=True, env=env, timeout=60)
    assert served.returncode == 0 and not any(model["serves"] for model in json.loads(served.stdout))
    text = subprocess.run([binary, "model", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "Served by the embeddings API: model e5-served" in text.stdout and "* serves" not in text.stdout
