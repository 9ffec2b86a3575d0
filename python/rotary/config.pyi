import os
from typing import Any, Mapping, TypeVar

import numpy as np

from ._rotary import Frequencies, RotatedPart

A = TypeVar("A")

class RopeConfig:
    method: str
    head_dim: int
    dims: int
    base: float
    traditional: bool
    rotated_part: RotatedPart | None
    scale: float
    max_position_embeddings: int | None
    mrope_section: list[int] | None
    mrope_interleaved: bool
    params: dict[str, float]
    longrope_policy: str
    serving_length: int | None
    layer_ropes: list[RopeConfig]
    layers: list[LayerRope]
    def layer_rope(self, layer: int) -> RopeConfig | None: ...
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

class LayerRope:
    rope: RopeConfig | None
    def __init__(self, cpp: Any, rope: RopeConfig | None) -> None: ...
    @property
    def layer_type(self) -> str: ...
    @property
    def nope_key(self) -> str: ...

def from_hf_config(config: Mapping[str, Any] | str | os.PathLike[str] | Any, *, longrope_policy: str = ...,
                   serving_length: int | None = ...) -> RopeConfig: ...
