from typing import Any, Sequence

import torch

from ._rotary import Frequencies

Index = torch.Tensor | Sequence[int] | Any  # integer tensors (or lists) of slots, tables, positions

def rope_and_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None, k_cache: torch.Tensor,
                   v_cache: torch.Tensor | None = ..., *, slot_mapping: Index | None = ...,
                   block_table: Index | None = ..., cache_lens: Index | None = ..., write_positions: Index | None = ...,
                   kv_layout: str = ..., k_scale: float | torch.Tensor | None = ...,
                   v_scale: float | torch.Tensor | None = ..., q_norm_weight: torch.Tensor | None = ...,
                   k_norm_weight: torch.Tensor | None = ..., norm_eps: float = ..., norm_unit_offset: bool = ...,
                   dims: int | None = ..., traditional: bool = ..., base: float = ...,
                   freqs: Frequencies | Sequence[float] | Any | None = ...,
                   inv_freq: Sequence[float] | Any | None = ..., scale: float = ..., offset: int | Index = ...,
                   position_ids: Index | None = ...,
                   cu_seqlens: Index | None = ..., starts: Index | None = ..., seq_axis: int = ...,
                   precision: str | None = ..., attention_factor: float | None = ...,
                   mrope_section: Sequence[int] | None = ..., mrope_interleaved: bool = ...) -> torch.Tensor: ...
def rms_norm_rope(q: torch.Tensor, k: torch.Tensor, q_weight: torch.Tensor, k_weight: torch.Tensor, *,
                  eps: float = ..., unit_offset: bool = ..., inplace: bool = ..., dims: int | None = ...,
                  traditional: bool = ..., base: float = ..., freqs: Frequencies | Sequence[float] | Any | None = ...,
                  inv_freq: Sequence[float] | Any | None = ..., scale: float = ..., offset: int | Index = ...,
                  position_ids: Index | None = ..., cu_seqlens: Index | None = ..., starts: Index | None = ...,
                  seq_axis: int = ..., precision: str | None = ..., attention_factor: float | None = ...,
                  mrope_section: Sequence[int] | None = ...,
                  mrope_interleaved: bool = ...) -> tuple[torch.Tensor, torch.Tensor]: ...
def rope_and_cache_mla(q_pe: torch.Tensor, k_pe: torch.Tensor, kv_c: torch.Tensor, kv_cache: torch.Tensor, *,
                       slot_mapping: Index | None = ..., block_table: Index | None = ...,
                       cache_lens: Index | None = ..., write_positions: Index | None = ...,
                       kv_scale: float | torch.Tensor | None = ..., dims: int | None = ..., traditional: bool = ...,
                       base: float = ..., freqs: Frequencies | Sequence[float] | Any | None = ...,
                       inv_freq: Sequence[float] | Any | None = ..., scale: float = ..., offset: int | Index = ...,
                       position_ids: Index | None = ..., cu_seqlens: Index | None = ..., starts: Index | None = ...,
                       seq_axis: int = ..., precision: str | None = ...,
                       attention_factor: float | None = ...) -> torch.Tensor: ...
def shift_cache(k_cache: torch.Tensor, deltas: Index, *, row_counts: Index | None = ..., kv_layout: str = ...,
                k_scale: float | torch.Tensor | None = ..., from_freqs: Frequencies | None = ...,
                from_positions: Index | None = ..., dims: int | None = ..., traditional: bool = ...,
                base: float = ..., freqs: Frequencies | Sequence[float] | Any | None = ...,
                inv_freq: Sequence[float] | Any | None = ..., scale: float = ..., seq_axis: int = ...,
                precision: str | None = ..., attention_factor: float | None = ...,
                mrope_section: Sequence[int] | None = ..., mrope_interleaved: bool = ...) -> torch.Tensor: ...
