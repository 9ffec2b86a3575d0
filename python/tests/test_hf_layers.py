"""Per-layer RoPE in Python (rotary.from_hf_config(...).layers, the C++ loader's description)
against transformers itself: for each model config in tests/data/models/, transformers' own
config class and rotary embedding module, layer by layer (which layers rotate, inverse
frequencies, attention scaling, rotated dims, pair layout, M-RoPE streams, LongRoPE's long
factors). transformers' side is tests/data/make_hf_layers_expected.py's layer_plan, run live."""
import importlib.util
import json
import os
import pickle

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import rotary  # noqa: E402
from rotary.config import RotatedPart  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")
_spec = importlib.util.spec_from_file_location("make_hf_layers_expected",
                                               os.path.join(DATA, "make_hf_layers_expected.py"))
hf_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hf_layers)

MODELS = sorted(os.listdir(os.path.join(DATA, "models")))
# The models, each of which must be among the configs compared.
NAMED = ["gemma3_4b.json", "gemma3_text_v5.json", "llama4_scout_text.json", "smollm3_3b.json",
         "cohere2_command_r7b.json", "modernbert_base.json", "deepseek_v3.json", "deepseek_v3_no_interleave.json",
         "glm4_9b.json", "glm4_v5_rope_parameters.json", "qwen3_next_80b.json", "phi3_mini_128k_small.json",
         "phi4_mini_small.json", "qwen2_vl_small.json", "qwen2_5_vl_small.json", "gpt_oss_20b.json"]
# Which part of a head rotates (transformers: DeepSeek MLA splits qk_rope_head_dim off each
# head; partial_rotary_factor < 1 rotates the leading features).
ROTATED_PART = {"deepseek_v2_lite_small.json": RotatedPart.rope_head, "deepseek_v3.json": RotatedPart.rope_head,
                "deepseek_v3_no_interleave.json": RotatedPart.rope_head, "glm4_9b.json": RotatedPart.leading,
                "glm4_v5_rope_parameters.json": RotatedPart.leading, "glm4v_small.json": RotatedPart.leading,
                "phi4_mini_small.json": RotatedPart.leading, "qwen3_5_small.json": RotatedPart.leading,
                "qwen3_next_80b.json": RotatedPart.leading}


def raw_config(name):
    with open(os.path.join(DATA, "models", name)) as f:
        return json.load(f)


def hf_config(raw):
    return transformers.AutoConfig.for_model(raw["model_type"], **{k: v for k, v in raw.items() if k != "model_type"})


def assert_frequencies_match(freqs, inv_freq_f32, attention_factor, what):
    # rotary's double frequencies against transformers' float32 buffer: 8 float32 ulps (HF's
    # own float32 evaluation is up to ~4 ulps off the exact value); the attention factor exactly.
    hf = np.asarray(inv_freq_f32, dtype=np.float32)
    ours = np.asarray(freqs.inv_freq)
    assert ours.shape == hf.shape, what
    assert np.all(np.abs(ours - hf.astype(np.float64)) <= 8 * np.spacing(hf).astype(np.float64)), what
    assert freqs.attention_factor == attention_factor, what


def assert_rope_matches(rope, entry, what):
    assert_frequencies_match(rope.frequencies(), entry["inv_freq_f32"], entry["attention_factor"], what)
    assert rope.dims == entry["rotated_dims"], what
    assert rope.traditional == (entry["layout"] == "interleaved"), what
    if "pair_stream" in entry:  # M-RoPE: the (t, h, w) stream of each pair
        assert list(rope.frequencies().pair_position_stream) == entry["pair_stream"], what
    if "long" in entry:  # LongRoPE past the original length: the long factors, once per call
        long = entry["long"]
        assert_frequencies_match(rope.frequencies(long["seq_len"]), long["inv_freq_f32"], long["attention_factor"],
                                 what + " (long factors)")


def test_the_named_models_are_compared():
    assert set(NAMED) <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_layers_equal_transformers_layer_by_layer(name):
    raw = raw_config(name)
    config = hf_config(raw)
    expected = hf_layers.layer_plan(config, raw["model_type"])
    # The config.json dict and transformers' config object (which rewrites v4 keys into v5's
    # rope_parameters) describe the same layers.
    for source in (raw, config):
        ours = rotary.from_hf_config(source)
        assert len(ours.layers) == len(expected["layers"]) == config.get_text_config().num_hidden_layers
        for i, (layer, hf) in enumerate(zip(ours.layers, expected["layers"])):
            what = f"{name} layer {i}"
            if hf["layer_type"]:
                assert layer.layer_type == hf["layer_type"], what
            if hf["rope"] is None:
                assert layer.rope is None and layer.nope_key, what
                assert ours.layer_rope(i) is None
                continue
            assert layer.rope is not None and layer.nope_key == "", what
            assert ours.layer_rope(i) is layer.rope
            assert_rope_matches(layer.rope, expected["ropes"][hf["rope"]], what)
            assert layer.rope.rotated_part == ROTATED_PART.get(name, RotatedPart.whole_head), what
        # one RoPE object per distinct RoPE, shared by its layers
        assert len(ours.layer_ropes) == len(expected["ropes"])


@pytest.mark.parametrize("name,layer,key", [("smollm3_3b.json", 3, "no_rope_layers[3]"),
                                            ("llama4_scout_text.json", 3, "no_rope_layers[3]"),
                                            ("qwen3_next_80b.json", 0, "layer_types"),
                                            ("cohere2_command_r7b.json", 3, "layer_types")])
def test_nope_layers_name_the_key(name, layer, key):
    config = rotary.from_hf_config(raw_config(name))
    assert config.layers[layer].rope is None
    assert config.layers[layer].nope_key.startswith(key)


def test_per_layer_ropes_of_gemma3():
    config = rotary.from_hf_config(raw_config("gemma3_4b.json"))
    sliding, full = config.layers[0].rope, config.layers[5].rope
    assert (config.layers[0].layer_type, config.layers[5].layer_type) == ("sliding_attention", "full_attention")
    assert (sliding.method, sliding.base) == ("default", 10000.0)
    assert (full.method, full.base, full.params["factor"]) == ("linear", 1e6, 8.0)
    assert [i for i, layer in enumerate(config.layers) if layer.rope is full] == [5, 11, 17, 23, 29]
    # the single-RoPE fields describe the full-attention layers' RoPE
    assert (config.method, config.base) == ("linear", 1e6)
    assert "layers=34 (2 RoPEs)" in repr(config)


def test_models_with_one_rope_keep_the_single_rope_api():
    config = rotary.from_hf_config(raw_config("qwen2_vl_small.json"))
    assert len(config.layer_ropes) == 1
    assert all(layer.rope is config.layer_ropes[0] for layer in config.layers)
    assert config.layer_ropes[0].frequencies() == config.frequencies()
    assert rotary.from_hf_config({"head_dim": 8, "rope_theta": 100.0}).layers == []  # no num_hidden_layers


def test_layers_pickle_and_repr_every_field():
    config = rotary.from_hf_config(raw_config("smollm3_3b.json"), longrope_policy="serving_length",
                                   serving_length=512)
    back = pickle.loads(pickle.dumps(config))
    assert [repr(layer) for layer in back.layers] == [repr(layer) for layer in config.layers]
    layers = pickle.loads(pickle.dumps(config.layers))
    assert [repr(layer) for layer in layers] == [repr(layer) for layer in config.layers]
    assert layers[0].rope.frequencies() == config.layers[0].rope.frequencies()
    assert layers[0].rope.longrope_policy == "serving_length" and layers[0].rope.serving_length == 512
    text = repr(config.layers[3])
    assert text.startswith("LayerRope(layer_type='full_attention', rope=None, nope_key='no_rope_layers[3]')")
    assert "rope=RopeConfig(method='default', head_dim=128" in repr(config.layers[0])
    cpp = rotary._rotary.LayerRope("sliding_attention", 1)
    assert repr(cpp) == "LayerRope(layer_type='sliding_attention', rope=1, nope_key='')"
    assert pickle.loads(pickle.dumps(cpp)) == cpp
    assert pickle.loads(pickle.dumps(RotatedPart.rope_head)) == RotatedPart.rope_head
    assert "rotated_part='rope_head'" in repr(rotary.from_hf_config(raw_config("deepseek_v3.json")))
    with pytest.raises(ValueError, match="nope_key"):
        rotary._rotary.LayerRope("full_attention", -1)
    with pytest.raises(ValueError, match="rope must be -1"):
        rotary._rotary.LayerRope("full_attention", -2, "x")
    with pytest.raises(IndexError, match="layer must be in"):
        config.layer_rope(8)


def test_longrope_policy_reaches_every_layer():
    raw = raw_config("phi3_mini_128k_small.json")
    config = rotary.from_hf_config(raw, longrope_policy="serving_length", serving_length=10**6)
    per_call = rotary.from_hf_config(raw)
    long_len = raw["original_max_position_embeddings"] + 1
    for layer, plain in zip(config.layers, per_call.layers):
        # serving length past the original context: the long factors even for a short call
        assert layer.rope.frequencies(1) == plain.rope.frequencies(long_len)
        assert layer.rope.frequencies(1) != plain.rope.frequencies(1)


def smollm3(**kw):
    return dict({"model_type": "smollm3", "num_hidden_layers": 4, "head_dim": 16, "rope_theta": 1e4}, **kw)


@pytest.mark.parametrize("config,key", [
    (smollm3(no_rope_layers=[1, 1, 0]), "'no_rope_layers' must be a list of num_hidden_layers = 4"),
    (smollm3(no_rope_layers=[1, 1, 2, 1]), "'no_rope_layers' must hold 0 or 1"),
    (smollm3(layer_types=["full_attention"] * 3), "'layer_types' must be a list of num_hidden_layers = 4"),
    (dict(model_type="gemma3_text", num_hidden_layers=2, head_dim=16,
          layer_types=["sliding_attention", "full_attention"],
          rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6}}),
     "'rope_parameters' has parameters per layer type but none for 'sliding_attention'"),
])
def test_inconsistent_layer_keys_are_named(config, key):
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace("(", r"\(")):
        rotary.from_hf_config(config)
