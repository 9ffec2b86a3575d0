"""transformers' eager apply_rotary_pos_emb with every rounding spelled out: the oracle for a
caller-given cos/sin path (issue 15 item 4b), independent of transformers' source.

transformers computes, in the input dtype T (cos and sin already cast to T by its rotary module):
    q_embed = (q * cos) + (rotate_half(q) * sin)
Each product is rounded to T, then the sum is rounded to T: for pair (x1, x2) at (i, i + D/2)
    out_i       = T(T(x1 * cos_i)       + T(-x2 * sin_i))
    out_{i+D/2} = T(T(x2 * cos_{i+D/2}) + T( x1 * sin_{i+D/2}))
(-x2 * s is exactly -(x2 * s); no fused multiply-add). The products and sums of two T values
are exact in float64 before the rounding to T for T = float32, float16, bfloat16, so this is
computed in float64 and rounded step by step.
"""
import torch


def _round(x, dtype):
    return x.to(dtype).double()


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    """Same signature, semantics and bits as transformers' (modeling_llama) function."""
    dtype = q.dtype
    cos = cos.unsqueeze(unsqueeze_dim).double()
    sin = sin.unsqueeze(unsqueeze_dim).double()

    def one(x):
        x = x.double()
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return _round(_round(x * cos, dtype) + _round(rotated * sin, dtype), dtype).to(dtype)

    return one(q), one(k)


def cos_sin(inv_freq, position_ids, dtype, attention_scaling=1.0):
    """transformers' LlamaRotaryEmbedding.forward: float32 angles position * inv_freq,
    cat(freqs, freqs), float32 cos/sin times the attention scaling, then cast to dtype."""
    freqs = position_ids[..., None].float() * inv_freq.float()
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * attention_scaling).to(dtype), (emb.sin() * attention_scaling).to(dtype)
