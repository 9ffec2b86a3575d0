"""Hugging Face transformers integration: route a loaded model's RoPE through rotary.

    model = AutoModelForCausalLM.from_pretrained(...)
    rotary.hf.patch(model, precision="compat")   # model(...) / model.generate(...) unchanged
    rotary.hf.unpatch(model)

How it works. In transformers 5.x the model's rotary embedding module (``model.rotary_emb``)
turns position ids into cos/sin tables once per forward pass, and every attention layer calls
the module-level ``apply_rotary_pos_emb(q, k, cos, sin)`` of its modeling file, looked up in the
module's globals at call time. ``patch`` makes the rotary module return ``RopeAngles`` (the
position ids and the layer's RoPE, from ``rotary.from_hf_config`` on the module's config)
instead of cos/sin, and wraps the modeling files' ``apply_rotary_pos_emb`` functions so that,
given ``RopeAngles``, they rotate q and k with rotary's fused kernel, the angles formed in the
kernel (no cos/sin tables are built). Given tensors they call transformers' own function, so
other (unpatched) models sharing the modeling file are unaffected. Layers without RoPE (NoPE,
e.g. SmolLM3's ``no_rope_layers``) never call the function and stay as they are; per-layer-type
RoPE (Gemma 3's sliding/full layers) gets each layer type's RoPE from the C++ loader's
per-layer description (``rotary.from_hf_config(config).layers``).

The table drop-ins (``apply_rotary_pos_emb`` and its ``_partial``, ``_glm``, ``_interleave``,
``_gpt_oss``, ``_float`` variants) take transformers' cos/sin instead: each has the signature and the
bits of one modeling file's function, to be set in that file's module in its place.
"""
from __future__ import annotations

import inspect
import re
import sys
import threading

import torch

from . import _rotary
from ._call import view as _view
from .config import from_hf_config

__all__ = ["RopeAngles", "apply_rotary_pos_emb", "apply_rotary_pos_emb_float", "apply_rotary_pos_emb_glm",
           "apply_rotary_pos_emb_gpt_oss",
           "apply_rotary_pos_emb_interleave", "apply_rotary_pos_emb_partial", "patch", "unpatch"]

# Functions with HF's apply signature (q, k, cos, sin, ...) in the modeling files.
_APPLY_NAME = re.compile(r"apply_(multimodal_)?rotary_pos_emb\w*")
_lock = threading.Lock()
_wrapped = {}  # (module name, function name) -> [original function, number of patched models]


class RopeAngles:
    """Stands in for cos and sin: the positions and the RoPE that would have made them."""

    __slots__ = ("position_ids", "rope", "precision")

    def __init__(self, position_ids, rope, precision):
        self.position_ids, self.rope, self.precision = position_ids, rope, precision

    def rotate(self, q, k, unsqueeze_dim=1):
        """(q, k) rotated as HF's apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim) would."""
        if unsqueeze_dim not in (1, 2):
            raise ValueError(f"rotary.hf: unsqueeze_dim must be 1 or 2 but is {unsqueeze_dim}.")
        return self.rope.rope_qk(q, k, position_ids=self.position_ids,
                                 seq_axis=-2 if unsqueeze_dim == 1 else -3, precision=self.precision)

    def __repr__(self):
        return f"RopeAngles(position_ids shape {tuple(self.position_ids.shape)}, {self.rope})"


_KERNEL_DTYPES = ("float32", "float16", "bfloat16", "float64")


def _expand(table, traditional):
    """A per-pair table as per-feature columns in the layout (HF's cat / repeat_interleave)."""
    return table.repeat_interleave(2, dim=-1) if traditional else torch.cat((table, table), dim=-1)


def _eager(x, cos, sin, dims, traditional):
    """transformers' formula in torch, for what the kernel does not take (autograd, CUDA, other
    shapes): ``(x * cos) + (rotate_half(x) * sin)`` over the first dims features (cos and sin
    per feature, unsqueezed), the rest passed through."""
    rot, rest = x[..., :dims], x[..., dims:]
    if traditional:
        turned = torch.stack((-rot[..., 1::2], rot[..., 0::2]), dim=-1).flatten(-2)
    else:
        turned = torch.cat((-rot[..., dims // 2:], rot[..., :dims // 2]), dim=-1)
    out = (rot * cos) + (turned * sin)
    return torch.cat((out, rest), dim=-1) if rest.shape[-1] else out


def _kernel_takes(q, k, cos, sin, unsqueeze_dim, dims, per_pair):
    tensors = (q, k, cos, sin)
    if unsqueeze_dim not in (1, 2) or q.dim() != 4 or k.dim() != 4 or cos.dim() != 3 or sin.shape != cos.shape:
        return False
    if any(t.device.type != "cpu" for t in tensors):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    if cos.shape[-1] != (dims // 2 if per_pair else dims):
        return False
    token_axis = 2 if unsqueeze_dim == 1 else 1
    return all(dims <= x.shape[-1] and x.shape[token_axis] == cos.shape[1] and cos.shape[0] in (1, x.shape[0])
               for x in (q, k))


def _rotate(q, k, cos, sin, unsqueeze_dim, dims, traditional, per_pair=False):
    """q and k with their first dims features rotated by caller-given cos/sin (B or 1, T, W):
    per feature (W = dims) or per_pair (W = dims / 2), half-split or interleaved pairs; the
    rest passed through. Each product rounded to the result dtype (torch's promotion of x
    with cos/sin), then the sum, as transformers computes it: rotary's cos/sin-table kernel on
    the CPU (TableRounding::hf), transformers' formula in torch otherwise."""
    kernel = _kernel_takes(q, k, cos, sin, unsqueeze_dim, dims, per_pair)
    table_dtype = torch.promote_types(cos.dtype, sin.dtype)
    dtypes = [torch.promote_types(x.dtype, table_dtype) for x in (q, k)]
    if not kernel or any(str(d).removeprefix("torch.") not in _KERNEL_DTYPES for d in dtypes):
        if per_pair:
            cos, sin = _expand(cos, traditional), _expand(sin, traditional)
        cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
        return _eager(q, cos, sin, dims, traditional), _eager(k, cos, sin, dims, traditional)
    seq_axis = -2 if unsqueeze_dim == 1 else -3
    groups = [[0, 1]] if dtypes[0] == dtypes[1] else [[0], [1]]
    xs = (q, k)
    outs = [torch.empty(x.shape, dtype=d) for x, d in zip(xs, dtypes)]
    for group in groups:
        d = dtypes[group[0]]
        ins = [xs[i].to(d) for i in group]
        _rotary.apply_table([_view(x) for x in ins], [_view(outs[i]) for i in group], _view(cos.to(d)),
                            _view(sin.to(d)), None, traditional, False, seq_axis, True, dims)
    return outs[0], outs[1]


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    """transformers' ``apply_rotary_pos_emb`` (modeling_llama; also Qwen2, Qwen2.5-VL's text
    model, Gemma 3, SmolLM3, DeepSeek-V3 without rope_interleave): same signature, semantics
    and bits. q, k: (B, H, T, D) for unsqueeze_dim 1, (B, T, H, D) for 2; cos, sin: (B or 1,
    T, D). Computed as transformers does, ``(x * cos) + (rotate_half(x) * sin)`` with each
    product rounded to the result dtype, then the sum, by rotary's cos/sin-table kernel on the
    CPU; anything else (autograd, CUDA tensors, other shapes) takes transformers' formula."""
    return _rotate(q, k, cos, sin, unsqueeze_dim, q.shape[-1], False)


def apply_rotary_pos_emb_partial(q, k, cos, sin, unsqueeze_dim=1):
    """GPT-NeoX's and Phi-3's ``apply_rotary_pos_emb``: the first ``cos.shape[-1]`` features of
    each head rotated (half split within them), the rest passed through (concatenated back)."""
    return _rotate(q, k, cos, sin, unsqueeze_dim, cos.shape[-1], False)


def apply_rotary_pos_emb_glm(q, k, cos, sin, unsqueeze_dim=1):
    """GLM-4's ``apply_rotary_pos_emb``: interleaved pairs (2i, 2i+1) over the first
    ``cos.shape[-1]`` features, pair i rotated by column i of cos/sin (transformers'
    ``cos[..., :W // 2].repeat_interleave(2)``), the rest passed through."""
    width = cos.shape[-1]
    return _rotate(q, k, cos[..., :width // 2], sin[..., :width // 2], unsqueeze_dim, width, True, True)


def apply_rotary_pos_emb_interleave(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
    """DeepSeek-V3's ``apply_rotary_pos_emb_interleave`` (rope_interleave true): interleaved
    pairs (2i, 2i+1) of the whole head rotated by column i of cos/sin, written back
    de-interleaved (``cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin])``); position_ids is
    unused, as in transformers."""
    width = cos.shape[-1]
    q_out, k_out = _rotate(q, k, cos[..., :width // 2], sin[..., :width // 2], unsqueeze_dim, q.shape[-1], True, True)
    return tuple(torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1) for x in (q_out, k_out))


def apply_rotary_pos_emb_float(q, k, cos, sin, unsqueeze_dim=1):
    """ModernBERT's ``apply_rotary_pos_emb``: q and k rotated in float32 (``q.float() * cos``
    ...), both results cast back to q's dtype."""
    q_out, k_out = _rotate(q.float(), k.float(), cos, sin, unsqueeze_dim, q.shape[-1], False)
    return q_out.to(q.dtype), k_out.to(q.dtype)


def apply_rotary_pos_emb_gpt_oss(q, k, cos, sin, unsqueeze_dim=1):
    """GPT-OSS's ``apply_rotary_pos_emb`` (``_apply_rotary_emb`` on the two halves): cos/sin
    hold one column per pair (B or 1, T, D / 2), half-split pairs."""
    return _rotate(q, k, cos, sin, unsqueeze_dim, q.shape[-1], False, True)


def _wrap(original):
    signature = inspect.signature(original)

    def apply_rotary_pos_emb(q, k, cos, sin, *args, **kwargs):
        if isinstance(cos, RopeAngles):
            bound = signature.bind(q, k, cos, sin, *args, **kwargs)
            return cos.rotate(q, k, bound.arguments.get("unsqueeze_dim", 1))
        return original(q, k, cos, sin, *args, **kwargs)

    apply_rotary_pos_emb.__wrapped__ = original
    apply_rotary_pos_emb.__name__ = original.__name__
    apply_rotary_pos_emb.__doc__ = original.__doc__
    return apply_rotary_pos_emb


def _apply_functions(model):
    """(module, name) of every HF-style apply function in the modeling files the model uses."""
    out = []
    for name in sorted({type(m).__module__ for m in model.modules()}):
        mod = sys.modules.get(name)
        for fname, fn in list(vars(mod).items()) if mod is not None else []:
            if not (_APPLY_NAME.fullmatch(fname) and callable(fn)):
                continue
            original = getattr(fn, "__wrapped__", fn)
            try:
                params = list(inspect.signature(original).parameters)[:4]
            except (TypeError, ValueError):
                continue
            if params == ["q", "k", "cos", "sin"]:
                out.append((mod, fname))
    return out


def _rotary_modules(model):
    """The model's text rotary embedding modules (those holding an inv_freq buffer)."""
    for m in model.modules():
        name = type(m).__name__
        if (name.endswith("RotaryEmbedding") and "Vision" not in name and hasattr(m, "config")
                and any(b.endswith("inv_freq") for b, _ in m.named_buffers(recurse=False))):
            yield m


def _patched_forward(module, precision):
    """The rotary module's forward, returning RopeAngles: for a module that takes a layer type
    (Gemma 3, ModernBERT), that layer type's RoPE from the C++ loader's per-layer description
    (rotary.from_hf_config(config).layers); else the config's single RoPE."""
    config = from_hf_config(module.config)
    if "layer_type" in inspect.signature(module.forward).parameters:
        ropes = {layer.layer_type: layer.rope for layer in config.layers if layer.rope is not None}
    else:
        ropes = {None: config}

    def forward(x, position_ids, layer_type=None):
        if layer_type not in ropes:
            raise ValueError(f"rotary.hf: no layer of type {layer_type!r} rotates in this config "
                             f"(its rotating layer types: {sorted(ropes)}).")
        angles = RopeAngles(position_ids, ropes[layer_type], precision)
        return angles, angles

    return forward


def patch(model, *, precision=None):
    """Route every attention layer's RoPE of a loaded transformers model through rotary's fused
    kernel. precision: "compat" (float32 angles as transformers forms them; logits agree to
    float32 rounding) or "accurate" (angles from the integer position in double; differs from
    transformers by transformers' own angle error, which grows with the position); default: the
    global setting. Returns the model. Raises ValueError if the model has no rotary module or
    is patched already."""
    if precision not in (None, "compat", "accurate"):
        raise ValueError(f"rotary.hf.patch: precision must be 'compat', 'accurate' or None, not {precision!r}.")
    if getattr(model, "_rotary_hf_patched", None):
        raise ValueError("rotary.hf.patch: the model is patched already; call rotary.hf.unpatch(model) first.")
    modules = list(_rotary_modules(model))
    functions = _apply_functions(model)
    if not modules or not functions:
        raise ValueError(
            f"rotary.hf.patch: {type(model).__name__} has no rotary embedding module with an inv_freq buffer "
            "or no apply_rotary_pos_emb(q, k, cos, sin, ...) in its modeling files; nothing to patch.")
    forwards = [(m, _patched_forward(m, precision)) for m in modules]  # all built before any change
    with _lock:
        for mod, fname in functions:
            entry = _wrapped.setdefault((mod.__name__, fname), [getattr(mod, fname), 0])
            if entry[1] == 0:
                setattr(mod, fname, _wrap(entry[0]))
            entry[1] += 1
    for m, forward in forwards:
        m.forward = forward  # an instance attribute shadows the class's forward
    model._rotary_hf_patched = (modules, functions)
    return model


def unpatch(model):
    """Undo patch(model): transformers' cos/sin path again. Returns the model."""
    state = getattr(model, "_rotary_hf_patched", None)
    if not state:
        raise ValueError("rotary.hf.unpatch: the model is not patched.")
    modules, functions = state
    for m in modules:
        del m.forward
    with _lock:
        for mod, fname in functions:
            entry = _wrapped[(mod.__name__, fname)]
            entry[1] -= 1
            if entry[1] == 0:
                setattr(mod, fname, entry[0])
                del _wrapped[(mod.__name__, fname)]
    del model._rotary_hf_patched
    return model
