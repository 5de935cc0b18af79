"""`mcp-rag model fetch`: a model downloaded from a Hugging Face Hub into the Hugging Face cache.

The real Hub is out of reach from these machines, so the tests run a local HTTP server that serves
repositories in the Hub's URL layout (hub_server.py): the listing API with checksums, resolve URLs,
redirects to a CDN path for LFS files, ranges, and JSON errors."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from hub_server import HubServer, folder_files

E5_SHAPED = ROOT / "Tests" / "EmbeddingsTests" / "Fixtures" / "settings" / "mean-e5-prefixes"
MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json"]
# What a Hub repository holds beside what mcp-rag needs, and mcp-rag must leave there.
NOT_NEEDED = {"pytorch_model.bin": b"\x80\x02" + b"\0" * 4096, "onnx/model.onnx": b"onnx" * 1024,
              "README.md": b"# a model card\n", ".gitattributes": b"*.bin filter=lfs\n"}


def e5_shaped_repository(model_dir: Path) -> dict[str, bytes]:
    """The e5-shaped model of test_embed_cli (the real MiniLM weights and tokenizer, e5's prompts
    and mean pooling) as a Hub repository, with the files a repository has that mcp-rag skips."""
    files = {name: (model_dir / name).read_bytes() for name in MODEL_FILES if (model_dir / name).exists()}
    settings = folder_files(E5_SHAPED)
    files.update({name: content for name, content in settings.items() if not name.endswith("expected.jsonl")})
    files.update(NOT_NEEDED)
    files["notes.txt"] = b""  # an empty file is fetched (and checked) like any other
    return files


def fetch(binary, env, *args):
    return subprocess.run([binary, "model", "fetch", *args], capture_output=True, env=env, timeout=300)


def environment(tmp_path, hub: HubServer, **extra) -> dict:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
            "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "HF_ENDPOINT": hub.url, **extra}


def repository_folder(tmp_path, repository: str) -> Path:
    return tmp_path / "hf" / "hub" / ("models--" + repository.replace("/", "--"))


def test_a_fetched_model_is_in_the_cache_as_huggingface_hub_lays_it_out_and_serves(binary, model_dir, tmp_path):
    with HubServer() as hub:
        repository = hub.add("acme/e5-shaped", e5_shaped_repository(model_dir))
        env = environment(tmp_path, hub)
        result = fetch(binary, env, "acme/e5-shaped")
        assert result.returncode == 0, result.stderr.decode()
        assert b"checksums verified" in result.stdout and b"MCP_RAG_MODEL=acme/e5-shaped" in result.stdout

        folder = repository_folder(tmp_path, "acme/e5-shaped")
        snapshot = folder / "snapshots" / repository.commit
        assert (folder / "refs" / "main").read_text() == repository.commit
        fetched = {path.relative_to(snapshot).as_posix() for path in snapshot.rglob("*") if not path.is_dir()}
        assert fetched == set(repository.files) - set(NOT_NEEDED)
        for name in fetched:
            assert (snapshot / name).is_symlink() and (snapshot / name).read_bytes() == repository.files[name], name
        assert os.readlink(snapshot / "1_Pooling" / "config.json").startswith("../../../blobs/")
        # What mcp-rag does not read was never asked for.
        asked = {request["path"] for request in hub.downloads()}
        assert not any(name in path for path in asked for name in NOT_NEEDED)

        # huggingface_hub reads the cache mcp-rag wrote, offline.
        from huggingface_hub import snapshot_download
        assert Path(snapshot_download("acme/e5-shaped", cache_dir=str(tmp_path / "hf" / "hub"),
                                      local_files_only=True)) == snapshot

        # The model serves by its name, and embeds as sentence-transformers did.
        env["MCP_RAG_MODEL"] = "acme/e5-shaped"
        listed = subprocess.run([binary, "model", "list", "--json"], capture_output=True, env=env, timeout=60)
        assert listed.returncode == 0, listed.stderr.decode()
        served = [model for model in json.loads(listed.stdout) if model["serves"]]
        assert [model["name"] for model in served] == ["acme/e5-shaped"] and served[0].get("problem") is None
        expected = next(json.loads(line) for line in (E5_SHAPED / "expected.jsonl").read_text().splitlines()
                        if json.loads(line)["work"] == "query")
        embedded = subprocess.run([binary, "embed", "--queries", "--text", expected["text"]], capture_output=True,
                                  env=env, timeout=120)
        assert embedded.returncode == 0, embedded.stderr.decode()
        assert json.loads(embedded.stdout)["input_ids"] == expected["input_ids"]

        # A second fetch finds everything in place and downloads nothing.
        before = len(hub.downloads())
        again = fetch(binary, env, "acme/e5-shaped")
        assert again.returncode == 0, again.stderr.decode()
        assert b"all already in the cache" in again.stdout
        assert len(hub.downloads()) == before


def test_a_download_that_breaks_off_resumes_where_it_stopped(binary, model_dir, tmp_path):
    with HubServer() as hub:
        repository = hub.add("acme/e5-shaped", e5_shaped_repository(model_dir))
        weights = repository.files["model.safetensors"]
        hub.drop_after["model.safetensors"] = len(weights) // 3
        env = environment(tmp_path, hub)

        broken = fetch(binary, env, "acme/e5-shaped")
        assert broken.returncode != 0
        assert b"model.safetensors" in broken.stderr and b"resumes" in broken.stderr, broken.stderr.decode()
        blobs = repository_folder(tmp_path, "acme/e5-shaped") / "blobs"
        partial = [path for path in blobs.iterdir() if path.name.endswith(".incomplete")]
        assert len(partial) == 1 and partial[0].stat().st_size == len(weights) // 3
        snapshot = repository_folder(tmp_path, "acme/e5-shaped") / "snapshots" / repository.commit
        assert not (snapshot / "model.safetensors").exists()

        resumed = fetch(binary, env, "acme/e5-shaped")
        assert resumed.returncode == 0, resumed.stderr.decode()
        ranges = [request["range"] for request in hub.downloads() if request["range"]]
        assert ranges == [f"bytes={len(weights) // 3}-"] * 2  # the resolve URL, then the CDN it redirects to
        assert (snapshot / "model.safetensors").read_bytes() == weights
        assert not any(path.name.endswith(".incomplete") for path in blobs.iterdir())


@pytest.mark.parametrize("damaged", ["model.safetensors", "tokenizer.json"])
def test_a_file_that_does_not_match_the_hubs_checksum_is_refused(binary, model_dir, tmp_path, damaged):
    """SHA-256 for LFS files (the weights), the git blob id for the others."""
    with HubServer() as hub:
        repository = hub.add("acme/e5-shaped", e5_shaped_repository(model_dir))
        hub.corrupt.add(damaged)
        env = environment(tmp_path, hub)
        result = fetch(binary, env, "acme/e5-shaped")
        assert result.returncode != 0
        assert f"{damaged} of acme/e5-shaped does not match the Hub's checksum".encode() in result.stderr
        folder = repository_folder(tmp_path, "acme/e5-shaped")
        assert not (folder / "snapshots" / repository.commit / damaged).exists()
        assert not any(path.name.endswith(".incomplete") for path in (folder / "blobs").iterdir())
        assert not (folder / "refs" / "main").exists()


def test_refusals_say_why_and_never_show_the_token(binary, tmp_path):
    with HubServer() as hub:
        hub.add("acme/torch-only", {"config.json": b"{}", "pytorch_model.bin": b"\0" * 64})
        env = environment(tmp_path, hub)

        missing = fetch(binary, env, "acme/nothing-here")
        assert missing.returncode != 0 and b"the Hub has no acme/nothing-here at main (HTTP 404)" in missing.stderr

        torch_only = fetch(binary, env, "acme/torch-only")
        assert torch_only.returncode != 0 and b"has no model.safetensors" in torch_only.stderr

        hub.token = "hf_the-right-token"
        env["HF_TOKEN"] = "hf_a-wrong-token-123"
        refused = fetch(binary, env, "acme/torch-only")
        assert refused.returncode != 0 and b"HTTP 401" in refused.stderr, refused.stderr.decode()
        assert b"hf_a-wrong-token-123" not in refused.stderr + refused.stdout
        assert hub.requests[-1]["authorization"] == "Bearer hf_a-wrong-token-123"

        # The token file huggingface_hub's login writes is read when HF_TOKEN is not set.
        del env["HF_TOKEN"]
        (tmp_path / "hf" / "token").write_text("hf_the-right-token\n")
        allowed = fetch(binary, env, "acme/torch-only")
        assert b"has no model.safetensors" in allowed.stderr, allowed.stderr.decode()

        for bad, words in [("../etc", b"not a Hugging Face repository name"), ("acme/x/y", b"not a Hugging Face")]:
            result = fetch(binary, env, bad)
            assert result.returncode != 0 and words in result.stderr, result.stderr.decode()
        bad_revision = fetch(binary, env, "acme/torch-only", "--revision", "../../main")
        assert bad_revision.returncode != 0 and b"is not a revision" in bad_revision.stderr
        # A fetch of the same repository under way (its lock held, as huggingface_hub's own lock
        # files sit beside it) is not run over.
        import fcntl
        lock = tmp_path / "hf" / "hub" / ".locks" / "models--acme--torch-only" / "mcp-rag-fetch.lock"
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            busy = fetch(binary, env, "acme/torch-only")
        assert busy.returncode != 0 and b"another fetch of acme/torch-only is under way" in busy.stderr

        env["HF_ENDPOINT"] = "file:///etc"
        bad_endpoint = fetch(binary, env, "acme/torch-only")
        assert bad_endpoint.returncode != 0 and b"HF_ENDPOINT must be an http or https URL" in bad_endpoint.stderr
    assert not (tmp_path / "hf" / "hub" / "models--acme--nothing-here" / "snapshots").exists()
