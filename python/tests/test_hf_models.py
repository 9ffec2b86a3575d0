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


def build(model_type):
    name, kwargs, _ = MODELS[model_type]
    config = getattr(transformers, name)(**kwargs)
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
