"""How close rotary comes to transformers' eager RoPE (LlamaRotaryEmbedding + apply_rotary_pos_emb),
as a new user would try it: q (1, 32, 2048, 128), k (1, 8, 2048, 128), positions 0..2047, theta
10000. Prints, per dtype, frequency source and precision, the share of output elements that
differ from transformers' and the largest difference. docs/NUMERICS.md quotes the output.

    PYTHONPATH=build-dev/python venv/bin/python python/bench/hf_parity.py
"""
import torch

import rotary
from transformers import LlamaConfig
from transformers.models.llama import modeling_llama as ml
torch.manual_seed(0); torch.set_num_threads(1)
cfg = LlamaConfig(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072)
rot = ml.LlamaRotaryEmbedding(cfg)
B,T,D = 1, 2048, 128
pos = torch.arange(T)[None] + 0
q = torch.randn(B, 32, T, D); k = torch.randn(B, 8, T, D)
for dt in (torch.float32, torch.bfloat16, torch.float16):
    qd, kd = q.to(dt), k.to(dt)
    cos, sin = rot(qd, pos)
    hq, hk = ml.apply_rotary_pos_emb(qd, kd, cos, sin)
    rc = rotary.from_hf_config(cfg.to_dict())
    for name, kw in (("loader", dict()), ("hf inv_freq", dict(inv_freq=rot.inv_freq))):
        for prec in ("compat", "accurate"):
            if name == "loader":
                yq, yk = rc.rope_qk(qd, kd, position_ids=pos, precision=prec)
            else:
                yq, yk = rotary.rope_qk(qd, kd, position_ids=pos, precision=prec, **kw)
            d = (yq.float() - hq.float()).abs()
            print(dt, name, prec, f"differ {(d>0).float().mean().item()*100:.1f}% max {d.max().item():.2e}")
