"""``from_hf_config``: the RoPE a Hugging Face ``config.json`` describes.

Reads the keys listed in docs/rope-scaling.md (``rope_theta`` or ``rope_parameters``,
``rope_scaling`` with ``type``/``rope_type``, ``partial_rotary_factor`` / ``rotary_pct`` /
``rotary_dim``, ``head_dim`` or ``hidden_size / num_attention_heads``, ...) and builds the
frequencies with ``rotary.scaling`` (Hugging Face's definitions, computed in double).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import _core, _rotary

__all__ = ["RopeConfig", "from_hf_config"]

_METHODS = ("default", "linear", "dynamic", "yarn", "longrope", "llama3")
_ALIASES = {"su": "longrope", "mrope": "default", "deepseek_yarn": "yarn", "dynamic_ntk": "dynamic",
            "ntk": "dynamic", "none": "default"}


def _scaling():
    sc = getattr(_rotary, "scaling", None)
    if sc is None:
        raise RuntimeError("rotary was built without the scaling methods (rotary/scaling.h).")
    return sc


class RopeConfig:
    """A ready RoPE: method, head size, rotated dims, layout and scaling parameters.

    ``frequencies(seq_len=None)`` gives the ``rotary.Frequencies`` (for dynamic NTK and
    LongRoPE the sequence length selects them); ``rope(x, ...)`` / ``rope_qk(q, k, ...)``
    rotate with them, taking the same position arguments as ``rotary.rope``.
    """

    def __init__(self, *, method="default", head_dim, dims=None, base=10000.0, traditional=False,
                 params=None, max_position_embeddings=None, mrope_section=None,
                 mrope_interleaved=False, scale=1.0, longrope_policy="per_call", serving_length=None,
                 frequencies=None, cpp=None):
        self.method = method
        self.head_dim = int(head_dim)
        self.dims = int(dims if dims is not None else head_dim)
        self.base = float(base)
        self.traditional = bool(traditional)
        self.params = dict(params or {})
        self.max_position_embeddings = max_position_embeddings
        self.mrope_section = list(mrope_section) if mrope_section is not None else None
        self.mrope_interleaved = bool(mrope_interleaved)
        self.scale = float(scale)
        self.longrope_policy = longrope_policy
        self.serving_length = serving_length
        self._fixed = frequencies
        self._cpp = cpp  # the C++ loader's RopeConfig, when rotary was built with rotary/config.h
        self._cache = {}

    @classmethod
    def from_frequencies(cls, freqs, *, traditional=False, scale=1.0, head_dim=None):
        dims = 2 * freqs.pairs
        return cls(method="custom", head_dim=head_dim or dims, dims=dims, traditional=traditional,
                   scale=scale, frequencies=freqs)

    @property
    def depends_on_length(self) -> bool:
        if self._cpp is not None:
            return self._cpp.depends_on_length
        return self.method in ("dynamic", "longrope") and self._fixed is None

    def frequencies(self, seq_len=None):
        """The Frequencies for a call whose largest position + 1 is seq_len."""
        if self._fixed is not None:
            return self._fixed
        if self._cpp is not None:
            key = seq_len if self.depends_on_length else None
            if key not in self._cache:
                if self.method == "longrope" and self.longrope_policy == "serving_length":
                    seq_len = int(self.serving_length or self.max_position_embeddings)
                self._cache[key] = self._cpp.frequencies(None if seq_len is None else int(seq_len))
            return self._cache[key]
        sc = _scaling()
        p = self.params
        d, b = self.dims, self.base
        key = seq_len if self.depends_on_length else None
        if key in self._cache:
            return self._cache[key]
        if self.method == "default":
            f = sc.default_frequencies(d, b)
        elif self.method == "linear":
            f = sc.linear(d, b, float(p["factor"]))
        elif self.method == "dynamic":
            m = float(self.max_position_embeddings)
            f = sc.dynamic_ntk(d, b, float(p["factor"]), m, int(seq_len if seq_len is not None else m))
        elif self.method == "llama3":
            f = sc.llama3(d, b, factor=float(p["factor"]),
                          low_freq_factor=float(p.get("low_freq_factor", 1.0)),
                          high_freq_factor=float(p.get("high_freq_factor", 4.0)),
                          original_max_position_embeddings=float(p.get("original_max_position_embeddings", 8192)))
        elif self.method == "yarn":
            f = sc.yarn(d, b, **self._yarn_kw())
        elif self.method == "longrope":
            o = float(p["original_max_position_embeddings"])
            if self.longrope_policy == "serving_length":
                length = int(self.serving_length or self.max_position_embeddings or o)
            else:
                length = int(seq_len if seq_len is not None else o)
            f = sc.longrope(d, b, short_factor=[float(v) for v in p["short_factor"]],
                            long_factor=[float(v) for v in p["long_factor"]],
                            original_max_position_embeddings=o, factor=float(p["factor"]),
                            attention_factor=p.get("attention_factor"), length=length)
        else:
            raise ValueError(f"rotary: unknown RoPE method '{self.method}'.")
        if self.mrope_section is not None:
            f = sc.mrope(f, self.mrope_section, self.mrope_interleaved)
        self._cache[key] = f
        return f

    def _yarn_kw(self):
        p = self.params
        kw = dict(factor=float(p["factor"]),
                  original_max_position_embeddings=float(p["original_max_position_embeddings"]),
                  beta_fast=float(p.get("beta_fast", 32.0) or 32.0),
                  beta_slow=float(p.get("beta_slow", 1.0) or 1.0),
                  truncate=bool(p.get("truncate", True)))
        for k in ("attention_factor", "mscale", "mscale_all_dim"):
            if p.get(k) is not None:
                kw[k] = float(p[k])
        return kw

    @property
    def attention_factor(self) -> float:
        """The factor that multiplies cos and sin (for LongRoPE: that of the short factors)."""
        return self.frequencies().attention_factor

    @property
    def inv_freq(self):
        return np.asarray(self.frequencies().inv_freq)

    def _seq_len(self, x, position_ids, offset, cu_seqlens, starts, seq_axis, seq_len):
        if seq_len is not None or not self.depends_on_length:
            return seq_len
        if position_ids is not None:
            ids = position_ids.detach().cpu().numpy() if _core.is_torch(position_ids) else np.asarray(position_ids)
            return int(ids.max()) + 1 if ids.size else 0
        if cu_seqlens is not None:
            cu = cu_seqlens.detach().cpu().numpy() if _core.is_torch(cu_seqlens) else np.asarray(cu_seqlens)
            lens = np.diff(cu.astype(np.int64))
            st = 0 if starts is None else (starts.detach().cpu().numpy() if _core.is_torch(starts) else np.asarray(starts))
            return int(np.max(lens + st)) if lens.size else 0
        off = offset.detach().cpu().numpy() if _core.is_torch(offset) else np.asarray(offset)
        return int(np.max(off)) + x.shape[seq_axis]

    def _kw(self, x, kw):
        seq_len = self._seq_len(x, kw.get("position_ids"), kw.get("offset", 0), kw.get("cu_seqlens"),
                                kw.get("starts"), kw.get("seq_axis", -2), kw.pop("seq_len", None))
        kw.setdefault("traditional", self.traditional)
        kw.setdefault("scale", self.scale)
        return dict(kw, freqs=self.frequencies(seq_len), dims=self.dims)

    def rope(self, x, **kw):
        """rotary.rope(x, ...) with this configuration (seq_len: for dynamic NTK / LongRoPE)."""
        from . import rope

        return rope(x, **self._kw(x, kw))

    def rope_qk(self, q, k, **kw):
        """rotary.rope_qk(q, k, ...) with this configuration; returns (q, k)."""
        from . import rope_qk

        return rope_qk(q, k, **self._kw(q, kw))

    __call__ = rope

    def __repr__(self):
        extra = f", params={self.params}" if self.params else ""
        if self.mrope_section:
            extra += f", mrope_section={self.mrope_section}"
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


def _num(c, key, where="config"):
    v = c.get(key)
    if v is None:
        raise ValueError(f"from_hf_config: missing key '{key}' in {where}.")
    return v


def from_hf_config(config, *, longrope_policy="per_call", serving_length=None) -> RopeConfig:
    """Build the RoPE of a Hugging Face model from its config (a dict, a path to
    ``config.json`` or a transformers ``PretrainedConfig``).

    longrope_policy: "per_call" (Hugging Face: long factors when a call's largest position
    + 1 exceeds original_max_position_embeddings) or "serving_length" (vLLM: decided once by
    ``serving_length``, default max_position_embeddings).
    """
    c = _load(config)
    if getattr(_rotary, "has_config", False):
        return _from_cpp(c, longrope_policy, serving_length)
    return _from_python(c, longrope_policy, serving_length)


def _from_cpp(c, longrope_policy, serving_length):
    if longrope_policy not in ("per_call", "serving_length"):
        raise ValueError(f"from_hf_config: longrope_policy must be 'per_call' or 'serving_length', not {longrope_policy!r}.")
    cpp = _rotary._from_hf_config_json(json.dumps(c), longrope_policy)
    params = {"factor": cpp.factor, "original_max_position_embeddings": cpp.original_max_position_embeddings}
    if cpp.softmax_scale_factor != 1.0:
        params["softmax_scale_factor"] = cpp.softmax_scale_factor
    return RopeConfig(method=cpp.method, head_dim=cpp.head_dim, dims=cpp.rotated_dims, base=cpp.base,
                      traditional=cpp.traditional, params=params if cpp.method != "default" else {},
                      max_position_embeddings=cpp.max_position_embeddings or None,
                      mrope_section=list(cpp.mrope_section) or None, mrope_interleaved=cpp.mrope_interleaved,
                      longrope_policy=longrope_policy, serving_length=serving_length, cpp=cpp)


def _from_python(c, longrope_policy, serving_length):
    """The loader in Python over rotary.scaling (used when the C++ loader is not built)."""
    if "text_config" in c and "num_attention_heads" not in c:
        c = dict(c["text_config"], **{k: v for k, v in c.items() if k in ("rope_scaling",)})
    rp = c.get("rope_parameters")
    rs = rp if isinstance(rp, dict) else (c.get("rope_scaling") or {})
    model = str(c.get("model_type", ""))
    base = (rs.get("rope_theta") if isinstance(rp, dict) else None) or c.get("rope_theta") \
        or c.get("rotary_emb_base") or 10000.0
    # head size and rotated dims
    traditional = False
    if c.get("qk_rope_head_dim") is not None:  # DeepSeek V2/V3: the rope part of each head
        head_dim = int(c["qk_rope_head_dim"])
        traditional = bool(c.get("rope_interleave", True))
    elif c.get("head_dim") is not None:
        head_dim = int(c["head_dim"])
    else:
        hidden = _num(c, "hidden_size" if "hidden_size" in c else "n_embd")
        heads = _num(c, "num_attention_heads" if "num_attention_heads" in c else "n_head")
        head_dim = int(hidden) // int(heads)
    if c.get("rotary_dim") is not None:  # GPT-J, CodeGen
        dims = int(c["rotary_dim"])
        traditional = model in ("gptj", "codegen") or traditional
    else:
        prf = c.get("partial_rotary_factor", c.get("rotary_pct", 1.0))
        dims = _scaling().rotated_dims(head_dim, float(prf)) if prf != 1.0 else head_dim
    if dims <= 0 or dims % 2 or dims > head_dim:
        raise ValueError(f"from_hf_config: rotated dims {dims} must be even, positive and at most head_dim {head_dim}.")
    method = str(rs.get("rope_type", rs.get("type", "default")) or "default").lower()
    mrope_section = rs.get("mrope_section")
    mrope_interleaved = bool(rs.get("mrope_interleaved", c.get("mrope_interleaved", False)))
    method = _ALIASES.get(method, method)
    if method not in _METHODS:
        raise ValueError(f"from_hf_config: unknown RoPE scaling method '{method}' (rope_scaling.rope_type); "
                         f"known: {', '.join(_METHODS)}.")
    mpe = c.get("max_position_embeddings")
    params = {k: v for k, v in rs.items() if k not in ("type", "rope_type", "rope_theta", "mrope_section",
                                                        "mrope_interleaved")}
    where = "rope_parameters" if isinstance(rp, dict) else "rope_scaling"
    if method in ("linear", "dynamic", "llama3"):
        _num(params, "factor", where)
    if method == "dynamic" and mpe is None:
        raise ValueError("from_hf_config: missing key 'max_position_embeddings' (needed by dynamic NTK).")
    if method in ("yarn", "longrope"):
        o = params.get("original_max_position_embeddings") or c.get("original_max_position_embeddings") or mpe
        if o is None:
            raise ValueError(f"from_hf_config: missing key 'original_max_position_embeddings' in {where}.")
        params["original_max_position_embeddings"] = o
        if params.get("factor") is None:
            params["factor"] = (mpe / o) if mpe else 1.0
    if method == "longrope":
        for key in ("short_factor", "long_factor"):
            v = _num(params, key, where)
            if len(v) != dims // 2:
                raise ValueError(f"from_hf_config: {where}.{key} must have dims/2 = {dims // 2} entries but has {len(v)}.")
    if mrope_section is not None and sum(mrope_section) != dims // 2:
        raise ValueError(f"from_hf_config: {where}.mrope_section {list(mrope_section)} must sum to dims/2 = {dims // 2}.")
    cfg = RopeConfig(method=method, head_dim=head_dim, dims=dims, base=base, traditional=traditional,
                     params=params, max_position_embeddings=mpe, mrope_section=mrope_section,
                     mrope_interleaved=mrope_interleaved, longrope_policy=longrope_policy,
                     serving_length=serving_length)
    cfg.frequencies()  # validate eagerly
    return cfg
