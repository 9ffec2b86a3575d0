"""rotary.hf.patch on real transformers model code: tiny random-weight models built from
configs (no download), patched model against the unpatched one."""
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


def test_qwen2_5_vl_mrope_with_image_like_positions():
    # M-RoPE: the text model's rotary module sees (3, B, T) ids; here 4 text tokens, a 4x4
    # image grid (temporal fixed, height and width varying) and 4 more text tokens.
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


def _same_code(a, b):
    """Same bytecode, names and constants (the docstring aside), under any rotary.hf.patch wrapper."""
    ca, cb = getattr(a, "__wrapped__", a).__code__, getattr(b, "__wrapped__", b).__code__
    return ca.co_code == cb.co_code and ca.co_names == cb.co_names and ca.co_consts[1:] == cb.co_consts[1:]


def _standard_apply_modules(model):
    """The modeling files of the model whose apply_rotary_pos_emb and rotate_half are
    transformers' standard ones (modeling_llama's), so the table drop-in can replace them."""
    from transformers.models.llama import modeling_llama as llama
    out = []
    for mod, fname in rotary.hf._apply_functions(model):
        fn = getattr(mod, fname)
        rotate_half = getattr(mod, "rotate_half", None)
        if (fname == "apply_rotary_pos_emb" and rotate_half is not None and _same_code(fn, llama.apply_rotary_pos_emb)
                and _same_code(rotate_half, llama.rotate_half)):
            out.append(mod)
    return out


# The models whose modeling file calls a non-standard apply function, which the table drop-in
# (transformers' standard signature and semantics) does not replace: Phi-3 and GPT-NeoX slice
# the rotated part (partial rotary) inside it, GLM-4 rotates interleaved pairs of a partial
# head, GPT-OSS has its own (x1*cos - x2*sin with half-width tables, _apply_rotary_emb).
# Qwen2.5-VL (not in MODELS; its own test above) splits M-RoPE sections in
# apply_multimodal_rotary_pos_emb. DeepSeek-V3 calls the standard function only with
# rope_interleave false (else apply_rotary_pos_emb_interleave): tested so.
NOT_STANDARD = {"phi3", "gpt_neox", "glm4", "gpt_oss"}
DROP_IN_OVERRIDES = {"deepseek_v3": dict(rope_interleave=False)}


@pytest.mark.parametrize("model_type", list(MODELS))
def test_table_drop_in_logits_bit_identical(model_type, monkeypatch):
    model = build(model_type, **DROP_IN_OVERRIDES.get(model_type, {}))
    modules = _standard_apply_modules(model)
    assert bool(modules) == (model_type not in NOT_STANDARD)
    if not modules:
        pytest.skip(f"{model_type}: its modeling file's apply function is not the standard one (see NOT_STANDARD)")
    ids = prompt(model_type)
    calls = []

    def drop_in(q, k, cos, sin, unsqueeze_dim=1):
        calls.append(q.dtype)
        return rotary.hf.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim)

    with torch.no_grad():
        ref = model(ids).logits
        for mod in modules:
            monkeypatch.setattr(mod, "apply_rotary_pos_emb", drop_in)
        got = model(ids).logits
    assert calls  # the drop-in was really called
    assert torch.equal(got, ref)
