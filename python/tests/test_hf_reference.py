"""The cos/sin-path oracle (hf_reference.py) is bit-identical to transformers' own functions."""
import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from transformers.models.llama import modeling_llama  # noqa: E402

import hf_reference  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("unsqueeze_dim", [1, 2])
def test_reference_is_bit_identical_to_transformers(dtype, unsqueeze_dim):
    config = transformers.LlamaConfig(hidden_size=512, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=4096,
                                      rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                                       "original_max_position_embeddings": 1024})
    rot = modeling_llama.LlamaRotaryEmbedding(config)
    assert rot.attention_scaling != 1.0  # the scaling is folded into the 16-bit tables too
    g = torch.Generator().manual_seed(0)
    pos = torch.stack([torch.arange(33), torch.arange(33) * 97 + 3000])
    def shape(heads):  # (B, H, T, D) for unsqueeze_dim=1, (B, T, H, D) for 2
        return (2, heads, 33, 128) if unsqueeze_dim == 1 else (2, 33, heads, 128)

    q = (torch.randn(shape(4), generator=g) * 3).to(dtype)
    k = (torch.randn(shape(2), generator=g) * 3).to(dtype)
    cos, sin = rot(q, pos)
    ref_cos, ref_sin = hf_reference.cos_sin(rot.inv_freq, pos, dtype, rot.attention_scaling)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)
    want = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
    got = hf_reference.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    # and it is not a fused multiply-add: for float32 one rounding fewer differs somewhere
    if dtype == torch.float32:
        c, s = cos.unsqueeze(unsqueeze_dim).double(), sin.unsqueeze(unsqueeze_dim).double()
        x = q.double()
        rotated = torch.cat((-x[..., 64:], x[..., :64]), -1)
        fused = (x * c + (rotated * s).float().double()).float()
        assert not torch.equal(fused, want[0])
