#!/work/main/venv/bin/python
"""Writes tests/data/hf_layers_expected.json: what transformers itself builds for each model
config in tests/data/models/: per layer, whether it rotates and with which RoPE (inverse
frequencies as the model's rotary embedding module holds them, in float32, and its attention
scaling).

Unlike make_scaling_expected.py (an independent re-implementation), this runs transformers'
own config classes and rotary embedding modules. Run with the project venv (transformers 5.x):
    /work/main/venv/bin/python tests/data/make_hf_layers_expected.py
"""
import importlib
import inspect
import json
import os

import torch
import transformers
from transformers import AutoConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.auto.configuration_auto import model_type_to_module_name

HERE = os.path.dirname(os.path.abspath(__file__))


def modeling(model_type):
    name = model_type_to_module_name(model_type)
    if model_type.endswith("_text") and not os.path.isdir(os.path.join(os.path.dirname(transformers.__file__), "models", name)):
        name = model_type_to_module_name(model_type[: -len("_text")])
    return importlib.import_module(f"transformers.models.{name}.modeling_{name}")


def rotary_class(model_type):
    """The model's text rotary embedding class, as its modeling module defines it."""
    module = modeling(model_type)
    names = [n for n in dir(module) if n.endswith("RotaryEmbedding") and "Vision" not in n]
    text = [n for n in names if "Text" in n] or names
    if len(text) != 1:
        raise ValueError(f"{model_type}: rotary embedding classes {names}")
    return getattr(module, text[0])


def probe_layout(model_type, text, module, layer_type, inv_freq):
    """Half split or interleaved pairs, found by running the model's own rotary module (cos, sin
    at position 3) and apply function on a ramp q, then matching the two rotations: pairs
    (j, j + d/2) or (2j, 2j+1)."""
    code = modeling(model_type)
    if model_type in ("deepseek_v2", "llama4_text"):
        return "interleaved"  # freqs_cis times view_as_complex over (..., d/2, 2): adjacent pairs
    dims = 2 * inv_freq.numel()
    x = torch.zeros(1, 1, dims)
    position = 3
    mrope = getattr(text, "rope_parameters", {}).get("mrope_section")
    ids = torch.full((3, 1, 1) if mrope else (1, 1), position)
    cos, sin = module(x, ids, layer_type) if layer_type else module(x, ids)
    q = torch.arange(1, dims + 1, dtype=torch.float32)[None, None, None, :] / dims
    if model_type == "deepseek_v3" and text.rope_interleave:
        out, _ = code.apply_rotary_pos_emb_interleave(q, q, cos, sin)
    elif list(inspect.signature(code.apply_rotary_pos_emb).parameters)[0] == "x":  # Gemma 4
        out = code.apply_rotary_pos_emb(q, cos, sin)
    else:
        out, _ = code.apply_rotary_pos_emb(q, q, cos, sin)
    out, v = out.reshape(-1).double(), q.reshape(-1).double()
    angle = position * inv_freq.double()
    c, s = angle.cos(), angle.sin()
    half = dims // 2
    split = torch.cat([v[:half] * c - v[half:] * s, v[half:] * c + v[:half] * s])
    inter = torch.stack([v[0::2] * c - v[1::2] * s, v[1::2] * c + v[0::2] * s], -1).flatten()
    scale = float(getattr(module, (layer_type + "_" if layer_type else "") + "attention_scaling"))
    # DeepSeek V3's rope_interleave: interleaved pairs, written back de-interleaved (q and k
    # alike, so q.k is that of interleaved pairs).
    deinter = torch.cat([v[0::2] * c - v[1::2] * s, v[1::2] * c + v[0::2] * s])
    for name, expected in (("half_split", split), ("interleaved", inter),
                           ("interleaved", deinter)):
        if torch.allclose(out, scale * expected, rtol=1e-5, atol=1e-6):
            return name
    raise ValueError(f"{model_type}: unknown pair layout")


def pair_streams(module, pairs):
    """M-RoPE: the position stream each pair reads, from the module's own recomposition of
    per-stream angles (Qwen2-VL: recomposition_frequencies)."""
    streams = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 1, pairs).clone()
    out = module.recomposition_frequencies(streams).reshape(-1)
    # GLM-4V repeats each pair's value (interleaved pairs) where the others concatenate two halves.
    if out.numel() == 2 * pairs and not torch.equal(out[:pairs], out[pairs:]):
        out = out[0::2]
    return [int(v) for v in out[:pairs]]


def rope_entry(module, prefix, rope_type, layout):
    inv = getattr(module, prefix + "inv_freq")
    entry = {"rope_type": rope_type, "inv_freq_f32": inv.tolist(), "rotated_dims": 2 * inv.numel(),
            "attention_factor": float(getattr(module, prefix + "attention_scaling")),
            "layout": layout}
    if hasattr(module, "recomposition_frequencies"):
        entry["pair_stream"] = pair_streams(module, inv.numel())
    return entry


def long_entry(module, text, layout):
    """LongRoPE's long factor set, as dynamic_rope_update builds it for a sequence past the
    original length (modeling_rope_utils.longrope_frequency_update)."""
    original = text.rope_parameters["original_max_position_embeddings"]
    inv, scaling = ROPE_INIT_FUNCTIONS["longrope"](text, None, seq_len=original + 1)
    return {"inv_freq_f32": inv.tolist(), "rotated_dims": 2 * inv.numel(),
            "attention_factor": float(scaling), "layout": layout, "seq_len": original + 1}


def rotates(model_type, text, i, layer_type):
    """Whether layer i applies RoPE, as the modeling code decides."""
    if model_type in ("smollm3", "llama4_text"):  # Attention.use_rope = config.no_rope_layers[i]
        return bool(text.no_rope_layers[i])
    if model_type == "cohere2":  # rotates only when sliding_window is set: sliding layers
        return layer_type == "sliding_attention"
    if model_type in ("qwen3_next", "qwen3_5_text"):  # linear_attention blocks: no self-attention RoPE
        return layer_type == "full_attention"
    return True


def layer_plan(config, model_type):
    text = config.get_text_config()
    text_type = text.model_type
    n = text.num_hidden_layers
    types = list(getattr(text, "layer_types", None) or [""] * n)
    module = rotary_class(text_type)(text)
    per_type = isinstance(getattr(module, "rope_type", None), dict)  # Gemma 3, ModernBERT
    ropes, layers = {}, []
    for i in range(n):
        if not rotates(text_type, text, i, types[i]):
            layers.append({"layer_type": types[i], "rope": None})
            continue
        key = types[i] if per_type else ""
        if key not in ropes:
            prefix = key + "_" if per_type else ""
            inv = getattr(module, prefix + "inv_freq")
            rope_type = module.rope_type[key] if per_type else module.rope_type
            layout = probe_layout(text_type, text, module, key if per_type else "", inv)
            ropes[key] = rope_entry(module, prefix, rope_type, layout)
            if rope_type == "longrope":
                ropes[key]["long"] = long_entry(module, text, ropes[key]["layout"])
        layers.append({"layer_type": types[i], "rope": key})
    return {"ropes": ropes, "layers": layers}


def main():
    out = {"generator": "tests/data/make_hf_layers_expected.py",
           "transformers": transformers.__version__, "models": {}}
    folder = os.path.join(HERE, "models")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            raw = json.load(f)
        model_type = raw["model_type"]
        config = AutoConfig.for_model(model_type, **{k: v for k, v in raw.items() if k != "model_type"})
        out["models"][name] = layer_plan(config, model_type)
    with open(os.path.join(HERE, "hf_layers_expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
