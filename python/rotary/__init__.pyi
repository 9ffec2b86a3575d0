from typing import Any, Sequence, TypeVar, overload

import numpy as np

from . import context_parallel as context_parallel, fast as fast, fused as fused, nn as nn, scaling as scaling, torch as torch
from ._rotary import Frequencies as Frequencies
from .config import RopeConfig as RopeConfig, from_hf_config as from_hf_config
from .fused import (rms_norm_rope as rms_norm_rope, rope_and_cache as rope_and_cache,
                    rope_and_cache_mla as rope_and_cache_mla, shift_cache as shift_cache)

__version__: str
has_cuda: bool

A = TypeVar("A")  # numpy.ndarray or torch.Tensor: the result has x's type
Index = int | Sequence[int] | np.ndarray | Any  # ints, lists, NumPy arrays or torch tensors

def rope(x: A, *, out: A | None = ..., inplace: bool = ..., dims: int | None = ..., traditional: bool = ...,
         base: float = ..., freqs: Frequencies | Sequence[float] | np.ndarray | Any | None = ...,
         inv_freq: Sequence[float] | np.ndarray | Any | None = ..., scale: float = ..., offset: Index = ...,
         position_ids: Index | None = ..., cu_seqlens: Index | None = ..., starts: Index | None = ...,
         seq_axis: int = ..., inverse: bool = ..., precision: str | None = ..., attention_factor: float | None = ...,
         mrope_section: Sequence[int] | None = ..., mrope_interleaved: bool = ...) -> A: ...
def rope_qk(q: A, k: A, *, q_out: A | None = ..., k_out: A | None = ..., inplace: bool = ...,
            dims: int | None = ..., traditional: bool = ..., base: float = ...,
            freqs: Frequencies | Sequence[float] | np.ndarray | Any | None = ...,
            inv_freq: Sequence[float] | np.ndarray | Any | None = ..., scale: float = ..., offset: Index = ...,
            position_ids: Index | None = ..., cu_seqlens: Index | None = ..., starts: Index | None = ...,
            seq_axis: int = ..., inverse: bool = ..., precision: str | None = ...,
            attention_factor: float | None = ..., mrope_section: Sequence[int] | None = ...,
            mrope_interleaved: bool = ...) -> tuple[A, A]: ...
def set_default_precision(precision: str) -> None: ...
def default_precision() -> str: ...
def set_num_threads(n: int) -> None: ...
def num_threads() -> int: ...
