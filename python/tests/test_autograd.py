"""rotary.torch: autograd through the inverse rotation."""
import pytest
import torch

import rotary
import rotary.torch as rtorch


def test_gradcheck_rope_float64():
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([[0, 3, 1, 7, 2], [4, 4, 5, 9, 100]])
    assert torch.autograd.gradcheck(lambda t: rtorch.rope(t, position_ids=ids, dims=6), (x,))
    assert torch.autograd.gradcheck(lambda t: rotary.rope(t, offset=3, traditional=True), (x,))


def test_gradcheck_rope_qk_and_fast_rope():
    q = torch.randn(1, 4, 3, 8, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 2, 3, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: rotary.rope_qk(a, b, offset=2, base=100.0), (q, k))
    assert torch.autograd.gradcheck(
        lambda a: rotary.fast.rope(a, 8, traditional=False, base=10000.0, scale=0.5, offset=torch.tensor(3)), (q,))
    assert torch.autograd.gradcheck(
        lambda a: rotary.fast.rope_vjp(a, 4, traditional=True, base=10.0, scale=1.0, offset=1), (q,))


def test_gradcheck_hf_drop_in_and_ragged():
    cfg = {"hidden_size": 32, "num_attention_heads": 4, "rope_theta": 10000.0, "max_position_embeddings": 64,
           "rope_scaling": {"type": "linear", "factor": 2.0}}
    q = torch.randn(2, 4, 3, 8, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 1, 3, 8, dtype=torch.float64, requires_grad=True)
    pos = torch.tensor([[0, 1, 2], [5, 6, 7]])
    assert torch.autograd.gradcheck(lambda a, b: rtorch.apply_rotary_pos_emb(a, b, pos, cfg), (q, k))
    x = torch.randn(6, 2, 8, dtype=torch.float64, requires_grad=True)
    cu = torch.tensor([0, 2, 6], dtype=torch.int32)
    assert torch.autograd.gradcheck(lambda t: rtorch.rope(t, cu_seqlens=cu, starts=[3, 0]), (x,))


def test_backward_is_inverse_rotation():
    x = torch.randn(2, 2, 4, 16, requires_grad=True)
    y = rotary.rope(x, offset=5)
    g = torch.randn_like(y)
    y.backward(g)
    torch.testing.assert_close(x.grad, rotary.rope(g, offset=5, inverse=True))
    # rotation is orthogonal: |grad| == |g| per pair, and rope(grad) == g
    torch.testing.assert_close(rotary.rope(x.grad, offset=5), g, atol=1e-5, rtol=0)


def test_bf16_backward_and_expanded_grad():
    x = torch.randn(1, 2, 3, 8, dtype=torch.bfloat16, requires_grad=True)
    rotary.rope(x, offset=1).sum().backward()  # sum's grad is an expanded (stride-0) tensor
    ones = torch.ones(1, 2, 3, 8, dtype=torch.bfloat16)
    torch.testing.assert_close(x.grad, rotary.rope(ones, offset=1, inverse=True))


def test_no_gradient_for_freqs():
    x = torch.randn(1, 1, 2, 4, requires_grad=True)
    f = torch.tensor([1.0, 10.0], requires_grad=True)
    with pytest.raises(ValueError, match="gradient with respect to freqs is not offered"):
        rotary.fast.rope(x, 4, traditional=False, base=None, scale=1.0, offset=0, freqs=f)
    with pytest.raises(ValueError, match="gradient with respect to freqs is not offered"):
        rtorch.rope(x, freqs=f)
    with pytest.raises(ValueError, match="gradient with respect to inv_freq is not offered"):
        rtorch.rope(x, inv_freq=f)
    # detached freqs are fine
    y = rotary.fast.rope(x, 4, traditional=False, base=None, scale=1.0, offset=0, freqs=f.detach())
    y.sum().backward()
    assert x.grad is not None


def test_no_grad_mode_returns_plain_tensor():
    x = torch.randn(1, 1, 2, 4, requires_grad=True)
    with torch.no_grad():
        y = rotary.rope(x)
    assert y.grad_fn is None and not y.requires_grad
