"""Writes a safetensors file with every F32 tensor stored as F16 (the others as they are).

The GPU machine takes at most 64 MiB per transfer, and all-MiniLM-L6-v2's fp32 weights alone are
87 MiB; mcp-rag and sentence-transformers both read the fp16 file, so the two compare on the same
weights. safetensors is an 8-byte little-endian header length, a JSON header of name → dtype,
shape and byte range, then the bytes; numpy does the conversion.

    python to_fp16.py IN.safetensors OUT.safetensors
"""

import json
import struct
import sys

import numpy as np


def main(source: str, target: str) -> None:
    with open(source, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        data = file.read()
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "F32":
            raw = np.frombuffer(raw, dtype="<f4").astype("<f2").tobytes()
            info = {**info, "dtype": "F16"}
        out_header[name] = {"dtype": info["dtype"], "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(out_header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with open(target, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for chunk in chunks:
            file.write(chunk)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
