#!/usr/bin/env bash
# Runs on the GPU machine (no Swift, no network), from the unpacked bundle: the GPU path against the
# CPU path and sentence-transformers, then the benchmark on the GPU; results under $OUT.
#   bash run-on-device.sh            (in the bundle folder; OUT defaults to ./out)
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-$PWD/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The CUDA libraries PyTorch's wheels carry (cuBLAS, NVRTC) when the image has no toolkit of its own.
gpu_libraries=$(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    print(":".join(sorted({os.path.dirname(p) for base in nvidia.__path__
                           for p in glob.glob(os.path.join(base, "**", "lib*.so*"), recursive=True)})))
except ImportError:
    pass
PY
)
export MCP_RAG_GPU_LIBRARY_PATH=${MCP_RAG_GPU_LIBRARY_PATH:-$gpu_libraries}
export XDG_CACHE_HOME=$out/cache
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
# The bundle leaves out what images that run PyTorch carry; if this one lacks any, say which.
if ldd ./mcp-rag | grep "not found" > "$out/missing-libraries.txt"; then
    echo "run-on-device: libraries missing on this machine:" >&2
    cat "$out/missing-libraries.txt" >&2
    exit 1
fi
./mcp-rag --version > "$out/version.txt" 2>&1
MCP_RAG_MODEL_DIR=$PWD/model ./mcp-rag selftest --json > "$out/selftest.json" 2> "$out/selftest.log"
python3 compare.py "$PWD" "$out" 2> "$out/compare.log"
./mcp-rag bench --device cuda --model-dir model --json --seconds 5 > "$out/bench-cuda.json" 2> "$out/bench-cuda.log"
./mcp-rag bench --device cpu --model-dir model --json --seconds 2 > "$out/bench-cpu.json" 2> "$out/bench-cpu.log"
tail -n +1 "$out"/*.log | tail -40
