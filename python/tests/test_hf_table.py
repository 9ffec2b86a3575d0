"""rotary.hf.apply_rotary_pos_emb (the cos/sin-table kernel with transformers' rounding) is
bit-identical to transformers' eager apply_rotary_pos_emb and to hf_reference.py."""
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from transformers.models.llama import modeling_llama  # noqa: E402

import hf_reference  # noqa: E402
import rotary.hf  # noqa: E402
from rotary import _rotary  # noqa: E402
from rotary._call import view as _view  # noqa: E402


def _inputs(dtype, unsqueeze_dim, table_dtype=None, batch_cos=2):
    config = transformers.LlamaConfig(hidden_size=512, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=4096,
                                      rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                                       "original_max_position_embeddings": 1024})
    rot = modeling_llama.LlamaRotaryEmbedding(config)
    g = torch.Generator().manual_seed(0)
    pos = torch.stack([torch.arange(33), torch.arange(33) * 97 + 3000])[:batch_cos]

    def shape(heads):  # (B, H, T, D) for unsqueeze_dim=1, (B, T, H, D) for 2
        return (2, heads, 33, 128) if unsqueeze_dim == 1 else (2, 33, heads, 128)

    q = (torch.randn(shape(4), generator=g) * 3).to(dtype)
    k = (torch.randn(shape(2), generator=g) * 3).to(dtype)
    cos, sin = rot(q.to(table_dtype or dtype), pos)
    return q, k, cos, sin


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("unsqueeze_dim", [1, 2])
def test_bit_identical_to_transformers_and_the_reference(dtype, unsqueeze_dim):
    q, k, cos, sin = _inputs(dtype, unsqueeze_dim)
    want = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
    ref = hf_reference.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
    with torch.no_grad():
        got = rotary.hf.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
    for g, w, r in zip(got, want, ref):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert torch.equal(g, w) and torch.equal(g, r)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_tables_with_16_bit_q_promote_as_torch_does(dtype):
    q, k, cos, sin = _inputs(dtype, 1, table_dtype=torch.float32)
    assert cos.dtype == torch.float32
    want = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin)
    got = rotary.hf.apply_rotary_pos_emb(q, k, cos, sin)
    assert got[0].dtype == want[0].dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_strided_q_and_batch_broadcast_tables():
    q, k, cos, sin = _inputs(torch.bfloat16, 2, batch_cos=1)
    q_t, k_t = q.transpose(1, 2), k.transpose(1, 2)  # (B, H, T, D) views of (B, T, H, D) memory
    want = modeling_llama.apply_rotary_pos_emb(q_t, k_t, cos, sin)
    got = rotary.hf.apply_rotary_pos_emb(q_t, k_t, cos, sin)
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_autograd_keeps_transformers_gradients():
    q, k, cos, sin = _inputs(torch.float32, 1)
    q.requires_grad_(True)
    got = rotary.hf.apply_rotary_pos_emb(q, k, cos, sin)
    want = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.equal(got[0], want[0])
    got[0].sum().backward()
    assert q.grad is not None


def test_position_indexed_table_as_vllm_cos_sin_cache():
    # vLLM's cos_sin_cache: (max_pos, rot_dim), cos in the first rot_dim/2 columns, sin in the rest;
    # the two halves are passed as strided views, rows picked by position ids.
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 16, 2, dtype=torch.float64) / 16))
    angles = torch.arange(64, dtype=torch.float64)[:, None] * inv_freq
    cache = torch.cat([angles.cos(), angles.sin()], dim=-1).float()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 16, generator=g)
    ids = torch.tensor([[0, 7, 63, 20, 1], [5, 5, 6, 40, 2]])
    out = torch.empty_like(x)
    _rotary.apply_table([_view(x)], [_view(out)], _view(cache[:, :8]), _view(cache[:, 8:]), _view(ids),
                        False, False, -2, False)
    theta = ids[:, None, :, None].double() * inv_freq
    x1, x2 = x[..., :8].double(), x[..., 8:].double()
    exact = torch.cat([x1 * theta.cos() - x2 * theta.sin(), x2 * theta.cos() + x1 * theta.sin()], -1)
    assert (out.double() - exact).abs().max().item() < 1e-5
    with pytest.raises(ValueError, match=r"table has 64 rows \(positions 0..63\) but token \(0, 1\) is at position 64"):
        _rotary.apply_table([_view(x)], [_view(out)], _view(cache[:, :8]), _view(cache[:, 8:]),
                            _view(ids * 0 + torch.tensor([0, 64, 0, 0, 0])), False, False, -2, False)


def _modeling(name):
    import importlib
    return importlib.import_module(f"transformers.models.{name}.modeling_{name}")


# The non-standard apply functions and their drop-ins: (modeling file, function, drop-in, the
# width of cos/sin for a head of 32 features as the model's rotary module makes them).
NON_STANDARD = {
    "gpt_neox": ("gpt_neox", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_partial, 8),
    "phi3_partial": ("phi3", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_partial, 24),
    "phi3_whole": ("phi3", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_partial, 32),
    "glm4": ("glm4", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_glm, 16),
    "gpt_oss": ("gpt_oss", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_gpt_oss, 16),
    "deepseek_v3": ("deepseek_v3", "apply_rotary_pos_emb_interleave", rotary.hf.apply_rotary_pos_emb_interleave, 32),
    "modernbert": ("modernbert", "apply_rotary_pos_emb", rotary.hf.apply_rotary_pos_emb_float, 32),
}


def _non_standard_inputs(width, dtype, unsqueeze_dim, table_dtype):
    g = torch.Generator().manual_seed(3)
    shape = (lambda h: (2, h, 9, 32)) if unsqueeze_dim == 1 else (lambda h: (2, 9, h, 32))
    q = (torch.randn(shape(4), generator=g) * 3).to(dtype)
    k = (torch.randn(shape(2), generator=g) * 3).to(dtype)
    angles = torch.rand(2, 9, width, generator=g, dtype=torch.float64) * 50
    return q, k, angles.cos().to(table_dtype or dtype), angles.sin().to(table_dtype or dtype)


@pytest.mark.parametrize("case", list(NON_STANDARD))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("unsqueeze_dim", [1, 2])
def test_non_standard_drop_ins_are_bit_identical(case, dtype, unsqueeze_dim):
    name, fname, drop_in, width = NON_STANDARD[case]
    hf = getattr(_modeling(name), fname)
    for table_dtype in (None, torch.float32):
        q, k, cos, sin = _non_standard_inputs(width, dtype, unsqueeze_dim, table_dtype)
        want = hf(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
        with torch.no_grad():
            got = drop_in(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert torch.equal(g, w), (case, dtype, unsqueeze_dim, table_dtype)


@pytest.mark.parametrize("case", list(NON_STANDARD))
def test_non_standard_drop_ins_keep_transformers_gradients(case):
    # autograd takes transformers' formula in torch: the same values and gradients
    name, fname, drop_in, width = NON_STANDARD[case]
    hf = getattr(_modeling(name), fname)
    q, k, cos, sin = _non_standard_inputs(width, torch.float32, 1, None)
    grads = []
    for fn in (hf, drop_in):
        x = q.clone().requires_grad_(True)
        out = fn(x, k, cos, sin)
        (out[0] * torch.arange(out[0].numel()).view(out[0].shape)).sum().backward()
        grads.append((out[0].detach(), out[1], x.grad))
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_standard_drop_in_refuses_narrow_tables_as_transformers_does():
    q, k, cos, sin = _non_standard_inputs(16, torch.float32, 1, None)
    with pytest.raises(RuntimeError):
        modeling_llama.apply_rotary_pos_emb(q, k, cos, sin)
    with pytest.raises(RuntimeError):
        rotary.hf.apply_rotary_pos_emb(q, k, cos, sin)
