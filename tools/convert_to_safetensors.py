#!/usr/bin/env python3
"""Convert a Hugging Face CLIP pytorch_model.bin to model.safetensors (same tensor names).

Used by weights/download.sh for Hub repositories that ship only the pickle file.
usage: convert_to_safetensors.py IN.bin OUT.safetensors
"""
import sys

import torch
from safetensors.torch import save_file


def main():
    src, dst = sys.argv[1], sys.argv[2]
    sd = torch.load(src, map_location="cpu", weights_only=True)
    sd = {k: v.contiguous() for k, v in sd.items() if not k.endswith("position_ids")}
    save_file(sd, dst, metadata={"format": "pt", "converted_from": "pytorch_model.bin"})
    print(f"wrote {dst}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
