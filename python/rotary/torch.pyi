from typing import Any

import torch

from ._rotary import Frequencies
from .config import RopeConfig
from .nn import RoPE

def rope(x: torch.Tensor, **kwargs: Any) -> torch.Tensor: ...
def rope_qk(q: torch.Tensor, k: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]: ...
def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, position_ids: torch.Tensor | None,
                         config_or_rope: RopeConfig | Frequencies | RoPE | dict[str, Any] | str | Any, *,
                         unsqueeze_dim: int = ..., inplace: bool = ..., precision: str | None = ...,
                         seq_len: int | None = ...) -> tuple[torch.Tensor, torch.Tensor]: ...
