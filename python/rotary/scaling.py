"""Frequency builders for the RoPE scaling methods (Hugging Face's definitions, in double).

Each returns a ``rotary.Frequencies`` to pass as ``freqs=`` to ``rotary.rope``:

    f = rotary.scaling.llama3(128, 500000.0, factor=8.0)
    y = rotary.rope(x, freqs=f, position_ids=ids)
"""

from ._rotary.scaling import (default_frequencies, dynamic_ntk, linear, llama3, longrope, mrope, rotated_dims,
                              vision_2d, yarn, yarn_attention_factor, yarn_get_mscale)

__all__ = ["default_frequencies", "dynamic_ntk", "linear", "llama3", "longrope", "mrope", "rotated_dims",
           "vision_2d", "yarn", "yarn_attention_factor", "yarn_get_mscale"]
