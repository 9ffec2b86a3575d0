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
import json
import os

import transformers
from transformers import AutoConfig

HERE = os.path.dirname(os.path.abspath(__file__))


def rotary_class(model_type):
    """The model's text rotary embedding class, as its modeling module defines it."""
    module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    names = [n for n in dir(module) if n.endswith("RotaryEmbedding") and "Vision" not in n]
    text = [n for n in names if "Text" in n] or names
    if len(text) != 1:
        raise ValueError(f"{model_type}: rotary embedding classes {names}")
    return getattr(module, text[0])


def rope_entry(module, prefix=""):
    inv = getattr(module, prefix + "inv_freq")
    scaling = getattr(module, prefix + "attention_scaling")
    return {"inv_freq_f32": inv.tolist(), "attention_factor": float(scaling),
            "rope_type": module.rope_type if not prefix else module.rope_type[prefix[:-1]]}


def one_rope(config, model_type):
    """Every layer rotates with the one rotary embedding of the model."""
    module = rotary_class(model_type)(config)
    return {"ropes": {"": rope_entry(module)},
            "layers": [""] * config.num_hidden_layers}


MODELS = {
    "hunyuan_v1_moe": one_rope,
}


def main():
    out = {"generator": "tests/data/make_hf_layers_expected.py",
           "transformers": transformers.__version__, "models": {}}
    folder = os.path.join(HERE, "models")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            raw = json.load(f)
        model_type = raw["model_type"]
        config = AutoConfig.for_model(model_type, **{k: v for k, v in raw.items() if k != "model_type"})
        out["models"][name] = MODELS[model_type](config, model_type)
    with open(os.path.join(HERE, "hf_layers_expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
