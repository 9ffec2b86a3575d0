"""rotary: rotary position embedding (RoPE) for NumPy and PyTorch.

MLX's API:      rotary.fast.rope(a, dims, *, traditional, base, scale, offset, freqs=None)
                rotary.fast.rope_vjp(...), rotary.nn.RoPE(dims, traditional=False, base=10000, scale=1.0)
Extended API:   rotary.rope(x, *, dims, position_ids, cu_seqlens, seq_axis, out, inplace, ...)
                rotary.rope_qk(q, k, ...)
Scaling:        rotary.scaling.*, rotary.from_hf_config(config)
PyTorch:        torch.ops.rotary.* (autograd, torch.compile, torch.export), rotary.torch.apply_rotary_pos_emb
Fused (torch):  rotary.rope_and_cache, rotary.rms_norm_rope, rotary.rope_and_cache_mla, rotary.shift_cache

Inputs are taken without copying (buffer protocol / DLPack), including strided views, and
results come back as the caller's type.
"""

from . import _call, _rotary
from ._core import rope, rope_qk
from ._rotary import Frequencies, default_precision, num_threads
from . import context_parallel, fast, fused, nn, scaling
from .fused import rms_norm_rope, rope_and_cache, rope_and_cache_mla, shift_cache
from .config import RopeConfig, from_hf_config
from . import torch

__version__ = _rotary.__version__
has_cuda = _rotary.cuda_available()  # built with the CUDA backend and a GPU usable here

__all__ = ["rope", "rope_qk", "fast", "fused", "nn", "scaling", "rope_and_cache", "rms_norm_rope", "rope_and_cache_mla",
           "shift_cache", "context_parallel", "Frequencies", "RopeConfig", "from_hf_config",
           "set_default_precision", "default_precision", "set_num_threads", "num_threads", "has_cuda",
           "torch"]


def set_default_precision(precision: str) -> None:
    """How calls that do not name a precision form angles: "accurate" (default; angle from
    the integer position in double, error flat in the position) or "compat" (float32
    angles as MLX and Hugging Face form them; results within float32 rounding of theirs,
    docs/NUMERICS.md)."""
    _rotary.set_default_precision(precision)


def set_num_threads(n: int) -> None:
    """CPU threads the kernels use (default: all cores, or ROTARY_NUM_THREADS)."""
    _rotary.set_num_threads(_call.int32_arg(n, "n"))
