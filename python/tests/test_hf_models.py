"""rotary.hf.patch on real transformers model code: tiny random-weight models built from
configs (no download), patched model against the unpatched one."""
import sys

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

import rotary  # noqa: E402
import rotary.hf  # noqa: E402

transformers.logging.set_verbosity_error()
VOCAB = 128
SMALL = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=256, tie_word_embeddings=False)


def _yarn(**kw):
    return dict({"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                 "original_max_position_embeddings": 64}, **kw)


# model type -> (config class name, config kwargs, prompt length). Each exercises one RoPE form.
MODELS = {
    "llama": ("LlamaConfig", dict(SMALL, num_hidden_layers=2), 24),
    "qwen2": ("Qwen2Config", dict(SMALL, num_hidden_layers=2), 24),
    # per-layer: sliding layers theta 10000, full layers theta 1e6 with linear x8
    "gemma3_text": ("Gemma3TextConfig", dict(
        SMALL, num_hidden_layers=4, sliding_window=8,
        layer_types=["sliding_attention", "full_attention"] * 2,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                         "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6}}), 24),
    # the same written as transformers v4 did (rope_local_base_freq, rope_scaling, a pattern)
    "gemma3_text_v4": ("Gemma3TextConfig", dict(
        SMALL, num_hidden_layers=4, sliding_window=8, sliding_window_pattern=2, rope_theta=1e6,
        rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 8.0}), 24),
    # LongRoPE: the prompt (40) is past original_max_position_embeddings (32): long factors
    "phi3": ("Phi3Config", dict(
        SMALL, num_hidden_layers=2, max_position_embeddings=128, original_max_position_embeddings=32,
        pad_token_id=0, rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                         "original_max_position_embeddings": 32,
                                         "short_factor": [1.0 + 0.1 * j for j in range(8)],
                                         "long_factor": [1.0 + 2.0 * j for j in range(8)]}), 40),
    # partial: a quarter of each head rotated, half split
    "gpt_neox": ("GPTNeoXConfig", dict(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=256, rotary_pct=0.25, tie_word_embeddings=False), 24),
    # partial interleaved: half of each head, pairs (2i, 2i+1)
    "glm4": ("Glm4Config", dict(SMALL, num_hidden_layers=2, partial_rotary_factor=0.5, pad_token_id=0), 24),
    # MLA: only qk_rope_head_dim of each head rotates, interleaved; YaRN with mscale
    "deepseek_v3": ("DeepseekV3Config", dict(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4,
        num_experts_per_tok=2, n_group=1, topk_group=1, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16, max_position_embeddings=256,
        tie_word_embeddings=False, rope_parameters=_yarn(mscale=1.0, mscale_all_dim=1.0)), 24),
    # YaRN without truncation of the correction range
    "gpt_oss": ("GptOssConfig", dict(
        SMALL, num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"],
        rope_parameters=_yarn(factor=32.0, truncate=False, beta_fast=32.0, beta_slow=1.0)), 24),
    # NoPE: every 4th layer has no RoPE
    "smollm3": ("SmolLM3Config", dict(SMALL, num_hidden_layers=4, no_rope_layers=[1, 1, 1, 0], pad_token_id=0), 24),
}


def build(model_type, **overrides):
    name, kwargs, _ = MODELS[model_type]
    config = getattr(transformers, name)(**dict(kwargs, **overrides))
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def prompt(model_type, batch=2):
    g = torch.Generator().manual_seed(1)
    return torch.randint(1, VOCAB, (batch, MODELS[model_type][2]), generator=g)


# float32 logits of these 2-4 layer models are O(1); fused rotation and HF's rounding of
# q*cos + rotate_half(q)*sin differ by an ulp or two per element of q and k.
LOGITS_ATOL = 2e-5


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("model_type", list(MODELS))
def test_patch_compat_logits_and_generate(model_type):
    model = build(model_type)
    ids = prompt(model_type)
    with torch.no_grad():
        ref = model(ids).logits
        ref_tokens = model.generate(ids[:1], max_new_tokens=20, do_sample=False, min_new_tokens=20)
        rotary.hf.patch(model, precision="compat")
        try:
            got = model(ids).logits
            tokens = model.generate(ids[:1], max_new_tokens=20, do_sample=False, min_new_tokens=20)
        finally:
            rotary.hf.unpatch(model)
        again = model(ids).logits
    assert (got - ref).abs().max().item() <= LOGITS_ATOL
    assert torch.equal(tokens, ref_tokens)
    assert torch.equal(again, ref)  # unpatch restores transformers' path exactly


def qwen2_5_vl():
    """A tiny Qwen2.5-VL, a prompt and M-RoPE position ids: the text model's rotary module sees
    (3, B, T) ids; here 4 text tokens, a 4x4 image grid (temporal fixed, height and width
    varying) and 4 more text tokens."""
    config = transformers.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           patch_size=4, spatial_merge_size=1, temporal_patch_size=1),
        tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.Qwen2_5_VLForConditionalGeneration(config).eval()
    ids = torch.randint(1, VOCAB, (1, 24), generator=torch.Generator().manual_seed(1))
    text, after = torch.arange(4), 8 + torch.arange(4)
    grid = [torch.full((16,), 4), 4 + torch.arange(4).repeat_interleave(4), 4 + torch.arange(4).repeat(4)]
    pos = torch.stack([torch.cat([text, g, after]) for g in grid])[:, None, :]
    return model, ids, pos


def test_qwen2_5_vl_mrope_with_image_like_positions():
    model, ids, pos = qwen2_5_vl()
    with torch.no_grad():
        ref = model(ids, position_ids=pos).logits
        ref_tokens = model.generate(ids, max_new_tokens=20, do_sample=False, min_new_tokens=20)
        rotary.hf.patch(model, precision="compat")
        try:
            got = model(ids, position_ids=pos).logits
            tokens = model.generate(ids, max_new_tokens=20, do_sample=False, min_new_tokens=20)
        finally:
            rotary.hf.unpatch(model)
    assert (got - ref).abs().max().item() <= LOGITS_ATOL
    assert torch.equal(tokens, ref_tokens)


def test_patched_rotary_module_builds_no_tables():
    model = build("gemma3_text")
    rotary.hf.patch(model)
    try:
        x = torch.zeros(1, 3, 64)
        for layer_type in ("sliding_attention", "full_attention"):
            cos, sin = model.model.rotary_emb(x, torch.arange(3)[None], layer_type)
            assert isinstance(cos, rotary.hf.RopeAngles) and cos is sin
        assert cos.rope.method == "linear" and cos.rope.base == 1e6
        with pytest.raises(ValueError, match="no layer of type 'chunked_attention' rotates"):
            model.model.rotary_emb(x, torch.arange(3)[None], "chunked_attention")
    finally:
        rotary.hf.unpatch(model)
    cos, _ = model.model.rotary_emb(x, torch.arange(3)[None], "full_attention")
    assert isinstance(cos, torch.Tensor)


@pytest.mark.parametrize("model_type", ["llama", "phi3"])
def test_accurate_precision_error_stays_flat_where_hf_grows(model_type):
    """Truth: the same weights in float64 with exact angles. transformers forms float32 angles
    position * inv_freq, whose rounding grows with the position (about 2.5e-7 of logit error at
    position 0, 2.9e-6 at 100000 for these models); the accurate mode's stays at the float32
    rounding of the rest of the model."""
    import copy

    model = build(model_type)
    ids = prompt(model_type)
    truth_model = rotary.hf.patch(copy.deepcopy(model).double(), precision="accurate")
    err = {}
    for start in (0, 100000):
        pos = (torch.arange(ids.shape[1]) + start)[None].expand(ids.shape[0], -1)
        with torch.no_grad():
            truth = truth_model(ids, position_ids=pos).logits
            hf = model(ids, position_ids=pos).logits
            rotary.hf.patch(model, precision="accurate")
            try:
                accurate = model(ids, position_ids=pos).logits
            finally:
                rotary.hf.unpatch(model)
        err[start] = [(y.double() - truth).abs().max().item() for y in (hf, accurate)]
    (hf0, acc0), (hf1, acc1) = err[0], err[100000]
    assert hf1 > 4 * hf0          # transformers' error grows with the position
    assert acc1 < 2 * max(acc0, hf0)  # the accurate mode's does not
    assert acc1 < hf1 / 4


def test_patch_errors():
    model = build("llama")
    with pytest.raises(ValueError, match="precision"):
        rotary.hf.patch(model, precision="fast")
    with pytest.raises(ValueError, match="not patched"):
        rotary.hf.unpatch(model)
    rotary.hf.patch(model)
    with pytest.raises(ValueError, match="patched already"):
        rotary.hf.patch(model)
    rotary.hf.unpatch(model)
    with pytest.raises(ValueError, match="nothing to patch"):
        rotary.hf.patch(torch.nn.Linear(2, 2))


def test_unpatched_model_sharing_the_modeling_file_is_unaffected():
    patched, plain = build("llama"), build("llama")
    ids = prompt("llama")
    with torch.no_grad():
        ref = plain(ids).logits
        rotary.hf.patch(patched)
        try:
            assert torch.equal(plain(ids).logits, ref)  # same modeling file, transformers' path
        finally:
            rotary.hf.unpatch(patched)


# Each model's modeling-file apply function and the rotary.hf table drop-in with its signature
# and semantics: (model type, config overrides, function name, drop-in).
DROP_INS = {
    "llama": ("llama", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb),
    "qwen2": ("qwen2", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb),
    "gemma3_text": ("gemma3_text", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb),
    "gemma3_text_v4": ("gemma3_text_v4", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb),
    "smollm3": ("smollm3", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb),
    # Phi-3 and GPT-NeoX rotate the leading cos.shape[-1] features and concatenate the rest back
    "phi3": ("phi3", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_partial),
    "gpt_neox": ("gpt_neox", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_partial),
    # GLM-4: interleaved pairs of the leading half, cos[..., :W/2].repeat_interleave(2)
    "glm4": ("glm4", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_glm),
    # GPT-OSS: _apply_rotary_emb on the halves with one cos/sin column per pair
    "gpt_oss": ("gpt_oss", {}, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_gpt_oss),
    # DeepSeek-V3: rope_interleave (the default) reads interleaved pairs, writes them de-interleaved
    "deepseek_v3": ("deepseek_v3", {}, "apply_rotary_pos_emb_interleave", rotary.hf.apply_rotary_pos_emb_interleave),
    "deepseek_v3_no_interleave": ("deepseek_v3", dict(rope_interleave=False), "apply_rotary_pos_emb",
                                  rotary.hf.apply_rotary_pos_emb),
}


def _logits_with_drop_in(model, fname, drop_in, monkeypatch, *args, **kwargs):
    """The model's logits unpatched, and with its modeling file's `fname` replaced by `drop_in`
    (which must be called, and rotate every time with the C++ table kernel)."""
    mod = sys.modules[type(model).__module__]
    assert (mod, fname) in rotary.hf._apply_functions(model)
    calls, kernel_calls = [], []
    apply_table = rotary.hf._rotary.apply_table

    def counted(*a, **kw):
        calls.append(a[0].dtype)
        return drop_in(*a, **kw)

    def kernel(*a, **kw):
        kernel_calls.append(a[2])
        return apply_table(*a, **kw)

    with torch.no_grad():
        ref = model(*args, **kwargs).logits
        monkeypatch.setattr(mod, fname, counted)
        monkeypatch.setattr(rotary.hf._rotary, "apply_table", kernel)
        got = model(*args, **kwargs).logits
    assert calls and len(kernel_calls) == len(calls)  # no call fell back to torch
    return got, ref


def test_every_model_has_a_table_drop_in():
    assert set(MODELS) <= {case[0] for case in DROP_INS.values()}


@pytest.mark.parametrize("case", list(DROP_INS))
def test_table_drop_in_logits_bit_identical(case, monkeypatch):
    model_type, overrides, fname, drop_in = DROP_INS[case]
    model = build(model_type, **overrides)
    got, ref = _logits_with_drop_in(model, fname, drop_in, monkeypatch, prompt(model_type))
    assert torch.equal(got, ref)


def test_qwen2_5_vl_table_drop_in_logits_bit_identical(monkeypatch):
    # The text model's rotary module recomposes the M-RoPE sections into (B, T, D) cos/sin, so
    # its attention calls the standard apply_rotary_pos_emb.
    model, ids, pos = qwen2_5_vl()
    got, ref = _logits_with_drop_in(model, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb, monkeypatch,
                                    ids, position_ids=pos)
    assert torch.equal(got, ref)


def modernbert():
    """A tiny ModernBERT (an encoder): global layers with theta 160000, local ones with 10000,
    one RoPE per layer type."""
    config = transformers.ModernBertConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        max_position_embeddings=256, local_attention=8, global_rope_theta=160000.0, local_rope_theta=10000.0,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    torch.manual_seed(0)
    return transformers.ModernBertForMaskedLM(config).eval(), prompt("llama")


def test_modernbert_patch_routes_each_layer_type():
    model, ids = modernbert()
    layers = rotary.from_hf_config(model.config).layers
    assert [(layer.layer_type, layer.rope.base) for layer in layers] == [
        ("full_attention", 160000.0), ("sliding_attention", 10000.0), ("sliding_attention", 10000.0)]
    with torch.no_grad():
        ref = model(ids).logits
        rotary.hf.patch(model, precision="compat")
        try:
            got = model(ids).logits
        finally:
            rotary.hf.unpatch(model)
    assert (got - ref).abs().max().item() <= LOGITS_ATOL


def test_modernbert_table_drop_in_logits_bit_identical(monkeypatch):
    # ModernBERT's apply_rotary_pos_emb computes in float32 and casts back to q's dtype
    model, ids = modernbert()
    got, ref = _logits_with_drop_in(model, "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_float,
                                    monkeypatch, ids)
    assert torch.equal(got, ref)
