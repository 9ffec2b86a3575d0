"""Public objects pickle, deep-copy and survive torch.save/load; reprs show every parameter."""
import copy
import io
import pickle

import numpy as np
import torch

import rotary

LLAMA3 = {"head_dim": 64, "rope_theta": 500000.0, "max_position_embeddings": 131072,
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192}}


def same_rotation(a, b):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 64)).astype(np.float32)
    np.testing.assert_array_equal(a(x, offset=9000), b(x, offset=9000))


class Holder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.cfg = rotary.from_hf_config(LLAMA3)
        self.fixed = rotary.RopeConfig.from_frequencies(rotary.Frequencies.from_base(64, 1e4), traditional=True)
        self.mlx = rotary.nn.RoPE(64, traditional=True, base=500.0, scale=0.5)
        self.freqs = rotary.scaling.yarn(64, 1e4, factor=4.0)


def test_pickle_and_deepcopy_of_everything_public():
    h = Holder()
    for obj in (h.cfg, h.fixed, h.freqs, h.mlx):
        for clone in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)):
            assert repr(clone) == repr(obj)
    same_rotation(h.cfg, pickle.loads(pickle.dumps(h.cfg)))
    same_rotation(h.fixed, copy.deepcopy(h.fixed))
    mlx2 = pickle.loads(pickle.dumps(h.mlx))
    x = np.ones((1, 1, 3, 64), np.float32)
    np.testing.assert_array_equal(mlx2(x, offset=4), h.mlx(x, offset=4))
    assert pickle.loads(pickle.dumps(h.freqs)) == h.freqs


def test_torch_save_load_of_a_module_holding_them():
    h = Holder()
    buf = io.BytesIO()
    torch.save(h, buf)
    buf.seek(0)
    h2 = torch.load(buf, weights_only=False)
    same_rotation(h.cfg, h2.cfg)
    assert h2.freqs == h.freqs and repr(h2.mlx) == repr(h.mlx)


def test_reprs_show_every_parameter():
    assert repr(rotary.nn.RoPE(32, traditional=True, base=500.0, scale=0.5)) == \
        "RoPE(32, traditional=True, base=500.0, scale=0.5)"
    f = rotary.Frequencies([1.0, 0.5], 1.25, [0, 1], 2)
    assert repr(f) == "Frequencies(inv_freq=[1.0, 0.5], attention_factor=1.25, pair_position_stream=[0, 1], position_streams=2)"
    assert "factor" in repr(rotary.from_hf_config(LLAMA3))
