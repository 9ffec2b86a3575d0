"""Issue 11's Python items: each bad input is refused with a clear error (nothing written),
never read or written wrongly. Each case returned silent garbage or an unclear error before."""
import re

import numpy as np
import pytest
import torch

import rotary

X = np.ones((1, 1, 3, 4), np.float32)


def refused(exc, text, f):
    with pytest.raises(exc, match=re.escape(text)):
        f()


def test_big_endian_arrays_are_refused():  # item 1
    refused(ValueError, "[rope] x has non-native byte order (>f4)", lambda: rotary.rope(X.astype(">f4"), offset=1))
    out = np.zeros((1, 1, 3, 4), ">f4")
    refused(ValueError, "[rope] out has non-native byte order", lambda: rotary.rope(X, out=out))
    assert not out.any()  # nothing written
    # index arrays are converted (a copy of a few integers), so a big-endian offset reads right
    np.testing.assert_array_equal(rotary.rope(X, offset=np.array([7], ">i8")), rotary.rope(X, offset=7))


def test_sizes_beyond_int_are_refused():  # item 2
    big = np.lib.stride_tricks.as_strided(np.ones(2, np.float32), shape=(1, 2**32 + 1, 1, 2), strides=(0, 0, 0, 4))
    out = np.zeros((1, 1, 1, 2), np.float32)
    refused(ValueError, "[rope] x has size 4294967297 along axis 1; rotary supports sizes up to 2147483647",
            lambda: rotary.rope(big, out=out, seq_axis=-3))
    assert not out.any()
    t = torch.ones(2).as_strided((1, 2**31, 1, 2), (0, 0, 0, 1))
    refused(ValueError, "[rope] x has size 2147483648 along axis 1", lambda: rotary.rope(t, inplace=True, seq_axis=-3))


def test_inplace_bumps_the_version_counter():  # item 5
    a = torch.ones(1, 1, 3, 4, requires_grad=True)
    b = torch.ones(1, 1, 3, 4)
    y = (a * b).sum()
    v = b._version
    with torch.no_grad():
        rotary.rope(b, inplace=True, offset=1)
    assert b._version > v
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    q, k = torch.ones(1, 2, 3, 4), torch.ones(1, 1, 3, 4)
    vq, vk = q._version, k._version
    rotary.rope_qk(q, k, inplace=True)
    assert q._version > vq and k._version > vk
    out = torch.empty(1, 1, 3, 4)
    vo = out._version
    rotary.rope(b, out=out)
    assert out._version > vo


def test_out_with_autograd_is_refused():  # item 6
    a = torch.ones(1, 1, 3, 4, requires_grad=True)
    buf = torch.zeros(1, 1, 3, 4)
    refused(RuntimeError, "don't support automatic differentiation", lambda: rotary.rope(a, out=buf))
    assert not buf.any()
    leaf = torch.zeros(1, 1, 3, 4, requires_grad=True)
    refused(RuntimeError, "don't support automatic differentiation", lambda: rotary.rope(torch.ones(1, 1, 3, 4), out=leaf))
    assert not leaf.detach().any()
    refused(RuntimeError, "don't support automatic differentiation",
            lambda: rotary.rope_qk(a, a, q_out=torch.empty_like(a), k_out=torch.empty_like(a)))
    with torch.no_grad():  # as torch: allowed without grad mode
        assert rotary.rope(a, out=buf) is buf


def fast(x, dims=4, **kw):
    kw = dict(dict(traditional=False, base=10000.0, scale=1.0, offset=0), **kw)
    return rotary.fast.rope(x, dims, **kw)


def test_silent_coercions_are_refused():  # item 9
    refused(TypeError, "[rope] dims must be an integer but got float.", lambda: fast(X, 4.7))
    refused(TypeError, "[rope] seq_axis must be an integer but got float.", lambda: rotary.rope(X, seq_axis=-2.5))
    refused(ValueError, "[rope] offset holds 9223372036854775813, beyond int64.",
            lambda: rotary.rope(X, offset=np.array([2**63 + 5], np.uint64)))
    with pytest.raises(ValueError, match=re.escape("pair_position_stream entries must be in [0, 255] but got 257")):
        rotary.Frequencies([1.0, 1.0]).replace(pair_position_stream=[257, 0])
    refused(ValueError, "[rope] freqs must be one dimensional but got shape (); a base goes in base=.",
            lambda: rotary.rope(X, freqs=10000.0))
    refused(ValueError, "[rope] freqs must have dims/2 = 2 inverse frequencies but has 1.",
            lambda: rotary.rope(X, inv_freq=[1.0]))
    for n in (0, -3):
        refused(ValueError, f"set_num_threads: n must be at least 1 but got {n}.", lambda: rotary.set_num_threads(n))
    refused(ValueError, "[rope] scale must be finite but got nan.", lambda: rotary.rope(X, scale=float("nan")))
    refused(ValueError, "[rope] every frequency must be finite but got inf.",
            lambda: rotary.rope(X, inv_freq=[float("inf"), 1.0]))
    refused(ValueError, "[rope] attention_factor must be finite", lambda: rotary.rope(X, attention_factor=float("nan")))


def test_remembered_options_still_refuse_coercions():
    # make_call remembers the options key of repeated keywords, by value and type: 1 == True, yet
    # dims=True must still be refused after dims=1 was seen (and dims=1 refused each time).
    for _ in range(2):
        refused(ValueError, "dims", lambda: rotary.rope(X, dims=1))
        refused(TypeError, "[rope] dims must be an integer but got bool.", lambda: rotary.rope(X, dims=True))
    for _ in range(2):  # the second call reads the remembered key
        np.testing.assert_allclose(rotary.rope(X, dims=2, offset=3), rotary._core.oracle(X, dims=2, offset=3), atol=1e-6)


def test_negated_views_are_refused_not_read_without_their_sign():
    # torch's negative bit (torch._neg_view, x.conj().imag) is lost in a DLPack export: such a view
    # is refused by name, in and out, and nothing is written; resolved, it is read with its sign.
    t = torch.randn(2, 1, 3, 4)
    refused(ValueError, "[rope] x is a negated view", lambda: rotary.rope(torch._neg_view(t)))
    out = torch.zeros_like(t)
    refused(ValueError, "[rope] out is a negated view", lambda: rotary.rope(t, out=torch._neg_view(out)))
    assert not out.any()
    assert torch.equal(rotary.rope(torch._neg_view(t).resolve_neg(), offset=2), rotary.rope(-t, offset=2))


def test_errors_name_the_argument():  # item 10
    t = torch.ones(2, 1, 3, 4)
    refused(ValueError, "[rope] Input must be a floating type but got bool.", lambda: rotary.rope(t.bool()))
    refused(ValueError, "[rope] offset must be an integer but got type bool.",
            lambda: rotary.rope(t, offset=torch.tensor([True, False])))
    refused(ValueError, "[rope] offset must be an integer but got type bool.",
            lambda: fast(t, offset=torch.tensor([True, False])))
    refused(ValueError, "[rope] x is a meta tensor", lambda: rotary.rope(torch.ones(1, 1, 3, 4, device="meta")))
    refused(TypeError, "[rope] x must be a dense (strided) tensor", lambda: rotary.rope(t.to_sparse()))
    refused(ValueError, "[rope] offset must fit in int64 but got 9223372036854775808.", lambda: rotary.rope(X, offset=2**63))
    refused(ValueError, "[rope] dims must fit in int32 but got 8589934592.", lambda: rotary.rope(X, dims=2**33))
    refused(ValueError, "[rope] Input must have at least 3 dimensions but got input with 0 dimensions.",
            lambda: rotary.rope(np.float32(1.0)))
    refused(TypeError, "[rope] freqs must be an array of numbers but got str.", lambda: rotary.rope(X, freqs="abc"))
    refused(ValueError, "[mrope] mrope_section entries must be non-negative.",
            lambda: rotary.rope(X, mrope_section=[5, -1, 0], position_ids=np.zeros((3, 3), np.int64)))
    refused(ValueError, "[from_hf_config] 'rope_theta' must be a number but is \"nan\"",
            lambda: rotary.from_hf_config({"head_dim": 64, "rope_theta": float("nan")}))


def test_cuda_stream_option_reaches_the_options():
    # the option added through the one list of options: in the key, and checked by name
    from rotary import _call
    key = _call.make_call(X, cuda_stream=1234).options
    assert "cuda_stream=1234" in repr(_call.options(key))
    np.testing.assert_array_equal(rotary.rope(X, cuda_stream=0, offset=2), rotary.rope(X, offset=2))
    refused(TypeError, "[rope] unknown option 'cuda_strem'.", lambda: rotary.rope(X, cuda_strem=1))
