import os
from typing import Any, Mapping, TypeVar

import numpy as np

from ._rotary import Frequencies

A = TypeVar("A")

class RopeConfig:
    method: str
    head_dim: int
    dims: int
    base: float
    traditional: bool
    scale: float
    max_position_embeddings: int | None
    mrope_section: list[int] | None
    mrope_interleaved: bool
    params: dict[str, float]
    longrope_policy: str
    serving_length: int | None
    @classmethod
    def from_frequencies(cls, freqs: Frequencies, *, traditional: bool = ..., scale: float = ...,
                         head_dim: int | None = ...) -> RopeConfig: ...
    @property
    def depends_on_length(self) -> bool: ...
    def frequencies(self, seq_len: int | None = ...) -> Frequencies: ...
    @property
    def attention_factor(self) -> float: ...
    @property
    def inv_freq(self) -> np.ndarray: ...
    def rope(self, x: A, **kw: Any) -> A: ...
    def rope_qk(self, q: A, k: A, **kw: Any) -> tuple[A, A]: ...
    def __call__(self, x: A, **kw: Any) -> A: ...

def from_hf_config(config: Mapping[str, Any] | str | os.PathLike[str] | Any, *, longrope_policy: str = ...,
                   serving_length: int | None = ...) -> RopeConfig: ...
