#!/usr/bin/env python3
"""ONNX Runtime CPU baseline for tools/bench_towers.cpp: the same ViT-B/32-shaped random CLIP image
tower (transformers CLIPModel defaults, seed 0) exported to ONNX by this script (torch.onnx.export,
cached at build/vit_b32_image.onnx), run with onnxruntime's CPU provider, all graph optimisations,
the same batch and thread count. Prints "ort images/s X".

usage: bench_towers_ort.py [image_batch=16] [seconds=5] [threads=2]
requirements: tools/requirements-bench.txt
"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
from transformers import CLIPConfig, CLIPModel


class ImageTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values)


def main():
    ib = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    path = "build/vit_b32_image.onnx"
    if not os.path.exists(path):
        torch.manual_seed(0)
        model = CLIPModel(CLIPConfig()).eval()
        tmp = path + ".tmp"
        with torch.inference_mode():
            torch.onnx.export(ImageTower(model), (torch.randn(1, 3, 224, 224),), tmp, input_names=["pixel_values"],
                              output_names=["image_embeds"], dynamic_axes={"pixel_values": {0: "batch"}},
                              opset_version=18, dynamo=False)
        os.replace(tmp, path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((ib, 3, 224, 224)).astype(np.float32)
    sess.run(None, {"pixel_values": x})
    t0 = time.perf_counter()
    done = 0
    while True:
        sess.run(None, {"pixel_values": x})
        done += ib
        el = time.perf_counter() - t0
        if el >= secs:
            break
    print(f"onnxruntime {ort.__version__}")
    print(f"ort images/s {done / el:.2f}")


if __name__ == "__main__":
    main()
