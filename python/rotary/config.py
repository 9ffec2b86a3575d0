"""``from_hf_config``: the RoPE a Hugging Face ``config.json`` describes.

A thin layer over the C++ loader (``rotary/config.h``), which reads every key listed in
rope-scaling.md and builds the frequencies in double: Python and C++ load configs the same way.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import _call, _core, _rotary

__all__ = ["LayerRope", "RopeConfig", "RotatedPart", "from_hf_config"]

RotatedPart = _rotary.RotatedPart

_POSITIONS = ("offset", "position_ids", "cu_seqlens", "starts")


class RopeConfig:
    """A ready RoPE: method, head size, rotated dims, layout and scaling parameters.

    ``frequencies(seq_len=None)`` gives the ``rotary.Frequencies`` (for dynamic NTK and
    LongRoPE the sequence length selects them); ``rope(x, ...)`` / ``rope_qk(q, k, ...)``
    rotate with them, taking the same position arguments as ``rotary.rope``.
    """

    def __init__(self, *, cpp=None, frequencies=None, head_dim=None, traditional=False, scale=1.0,
                 longrope_policy="per_call", serving_length=None, source=None, layer_rope=None):
        self._cpp = cpp  # the C++ loader's RopeConfig; None for fixed frequencies
        self._source = source  # the config's JSON text: pickling reloads it through the C++ loader
        self._layer_rope = layer_rope  # index in the loaded config's layer_ropes, for a layer's RoPE
        self._fixed = frequencies
        if cpp is not None:
            self.method, self.head_dim, self.dims = cpp.method, cpp.head_dim, cpp.rotated_dims
            self.base, self.traditional = cpp.base, cpp.traditional
            self.rotated_part = cpp.rotated_part
            self.max_position_embeddings = cpp.max_position_embeddings or None
            self.mrope_section = list(cpp.mrope_section) or None
            self.mrope_interleaved = cpp.mrope_interleaved
            self.params = json.loads(cpp.method_parameters_json())  # the C++ method table's
        else:
            self.method, self.dims = "custom", 2 * frequencies.pairs
            self.head_dim = int(head_dim or self.dims)
            self.base, self.traditional = float("nan"), bool(traditional)
            self.rotated_part = None  # not read from a config
            self.max_position_embeddings = self.mrope_section = None
            self.mrope_interleaved = False
            self.params = {}
        self.scale = float(scale)
        self.longrope_policy = longrope_policy
        self.serving_length = serving_length
        self._cache = {}
        self.layer_ropes, self.layers = self._per_layer()

    def _per_layer(self):
        """The C++ loader's per-layer RoPE: the distinct RoPEs of the layers, and per layer a
        LayerRope naming its RoPE (None: NoPE). Empty without num_hidden_layers."""
        if self._cpp is None or self._layer_rope is not None:
            return [], []
        ropes = [RopeConfig(cpp=r, longrope_policy=self.longrope_policy, serving_length=self.serving_length,
                            source=self._source, layer_rope=i) for i, r in enumerate(self._cpp.layer_ropes)]
        return ropes, [LayerRope(layer, ropes[layer.rope] if layer.rope >= 0 else None) for layer in self._cpp.layers]

    def layer_rope(self, layer: int):
        """The RoPE of decoder layer `layer` (None for a NoPE layer)."""
        if not 0 <= layer < len(self.layers):
            raise IndexError(f"RopeConfig.layer_rope: layer must be in [0, {len(self.layers)}) but is {layer}.")
        return self.layers[layer].rope

    @classmethod
    def from_frequencies(cls, freqs, *, traditional=False, scale=1.0, head_dim=None):
        return cls(frequencies=freqs, traditional=traditional, scale=scale, head_dim=head_dim)

    @property
    def depends_on_length(self) -> bool:
        return self._cpp is not None and self._cpp.depends_on_length

    def frequencies(self, seq_len=None):
        """The Frequencies for a call whose largest position + 1 is seq_len."""
        if self._fixed is not None:
            return self._fixed
        key = seq_len if self.depends_on_length else None
        if key not in self._cache:
            self._cache[key] = self._cpp.frequencies(None if seq_len is None else int(seq_len))
        return self._cache[key]

    @property
    def attention_factor(self) -> float:
        """The factor that multiplies cos and sin (for LongRoPE: that of the short factors)."""
        return self.frequencies().attention_factor

    @property
    def inv_freq(self):
        return np.asarray(self.frequencies().inv_freq)

    def _kw(self, x, kw):
        seq_len = kw.pop("seq_len", None)
        if seq_len is None and self.depends_on_length:
            positions = {name: kw[name] for name in _POSITIONS if name in kw}
            seq_len = _call.positions_length(x, _call.make_call(x, **positions), kw.get("seq_axis", -2))
        kw.setdefault("traditional", self.traditional)
        kw.setdefault("scale", self.scale)
        return dict(kw, freqs=self.frequencies(seq_len), dims=self.dims)

    def rope(self, x, **kw):
        """rotary.rope(x, ...) with this configuration (seq_len: for dynamic NTK / LongRoPE)."""
        return _core.rope(x, **self._kw(x, kw))

    def rope_qk(self, q, k, **kw):
        """rotary.rope_qk(q, k, ...) with this configuration; returns (q, k)."""
        return _core.rope_qk(q, k, **self._kw(q, kw))

    __call__ = rope

    def __reduce__(self):
        if self._cpp is not None:
            return _reload, (self._source, self.longrope_policy, self.serving_length, self.scale, self._layer_rope)
        return RopeConfig.from_frequencies, (self._fixed,), {"traditional": self.traditional, "scale": self.scale,
                                                             "head_dim": self.head_dim}

    def __setstate__(self, state):  # from_frequencies' keyword arguments (fixed frequencies)
        self.__init__(frequencies=self._fixed, **state)

    def __repr__(self):
        extra = f", params={self.params}" if self.params else ""
        if self.rotated_part is not None and self.rotated_part != RotatedPart.whole_head:
            extra += f", rotated_part='{self.rotated_part.name}'"
        if self.mrope_section:
            extra += f", mrope_section={self.mrope_section}"
        if self.scale != 1.0:
            extra += f", scale={self.scale:g}"
        if self.method == "longrope":
            extra += f", longrope_policy='{self.longrope_policy}', serving_length={self.serving_length}"
        if self._fixed is not None:
            extra += f", frequencies={self._fixed!r}"
        if self.layers:
            extra += f", layers={len(self.layers)} ({len(self.layer_ropes)} RoPEs)"
        return (f"RopeConfig(method='{self.method}', head_dim={self.head_dim}, dims={self.dims}, "
                f"base={self.base:g}, traditional={self.traditional}{extra})")


def _load(config):
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, (str, os.PathLike)):
        with open(config) as fh:
            return json.load(fh)
    if isinstance(config, dict):
        return config
    raise TypeError(f"from_hf_config: expected a dict, a path or a PretrainedConfig, not {type(config).__name__}.")


def _finite_json(value):
    """JSON text for the C++ loader. Configs may hold float infinities (e.g. Mamba's
    time_step_limit), which JSON cannot spell: they become strings, so a RoPE key holding one
    is refused by the loader as not a number."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def from_hf_config(config, *, longrope_policy="per_call", serving_length=None) -> RopeConfig:
    """Build the RoPE of a Hugging Face model from its config (a dict, a path to
    ``config.json`` or a transformers ``PretrainedConfig``).

    longrope_policy: "per_call" (Hugging Face: long factors when a call's largest position
    + 1 exceeds original_max_position_embeddings) or "serving_length" (vLLM: decided once by
    ``serving_length``, default max_position_embeddings).
    """
    if longrope_policy not in ("per_call", "serving_length"):
        raise ValueError(f"from_hf_config: longrope_policy must be 'per_call' or 'serving_length', not {longrope_policy!r}.")
    text = json.dumps(_finite_json(_load(config)))
    cpp = _rotary._from_hf_config_json(text, longrope_policy, int(serving_length or 0))
    return RopeConfig(cpp=cpp, longrope_policy=longrope_policy, serving_length=serving_length, source=text)


def _reload(source, longrope_policy, serving_length, scale, layer_rope=None):
    config = from_hf_config(json.loads(source), longrope_policy=longrope_policy, serving_length=serving_length)
    if layer_rope is not None:
        config = config.layer_ropes[layer_rope]
    config.scale = scale
    return config


class LayerRope:
    """One decoder layer's RoPE, as the C++ loader reads it (``rotary::LayerRope``):
    ``layer_type`` (the config's ``layer_types`` entry, or the one transformers derives),
    ``rope`` (the layer's RopeConfig: frequencies, attention factor, rotated dims, layout,
    rotated part; None for a NoPE layer) and ``nope_key`` (for NoPE: the key that says so,
    e.g. ``no_rope_layers[3]``)."""

    __slots__ = ("_cpp", "rope")

    def __init__(self, cpp, rope):
        self._cpp, self.rope = cpp, rope

    @property
    def layer_type(self) -> str:
        return self._cpp.layer_type

    @property
    def nope_key(self) -> str:
        return self._cpp.nope_key

    def __reduce__(self):
        return LayerRope, (self._cpp, self.rope)

    def __repr__(self):
        return f"LayerRope(layer_type={self.layer_type!r}, rope={self.rope!r}, nope_key={self.nope_key!r})"
