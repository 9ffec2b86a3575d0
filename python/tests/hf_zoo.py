"""transformers' model zoo against rotary's config loader.

For every model type in transformers' CONFIG_MAPPING whose modeling module defines a rotary
embedding module built from the model's config, and for each RoPE variant that module accepts,
this builds transformers' own rotary embedding from the config (no weights, no network), takes
its ``inv_freq``, ``attention_scaling`` and cos/sin at a set of positions, and compares them with
``rotary.from_hf_config`` on the same config dict. Shared by the conformance test and the
generator of the table in docs/SCALING.md (tests/data/make_hf_conformance_table.py).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import importlib
import inspect
import math
import re
import warnings

import numpy as np
import torch
import transformers

transformers.logging.set_verbosity_error()

import rotary

F32_EPS = 2.0 ** -24

# The RoPE variants of modeling_rope_utils.ROPE_INIT_FUNCTIONS that a generic rotary module
# (one that dispatches on rope_type) accepts; parameters chosen so that each one changes the
# frequencies. `orig` is a fraction of max_position_embeddings.
VARIANTS = {
    "linear": lambda dim, mp: {"rope_type": "linear", "factor": 4.0},
    "dynamic": lambda dim, mp: {"rope_type": "dynamic", "factor": 2.0},
    "yarn": lambda dim, mp: {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": mp // 4},
    "yarn_truncate_false": lambda dim, mp: {"rope_type": "yarn", "factor": 8.0, "truncate": False,
                                            "beta_fast": 16.0, "beta_slow": 2.0,
                                            "original_max_position_embeddings": mp // 8},
    "yarn_mscale": lambda dim, mp: {"rope_type": "yarn", "factor": 40.0, "mscale": 1.0, "mscale_all_dim": 0.707,
                                    "original_max_position_embeddings": max(mp // 40, 1)},
    "llama3": lambda dim, mp: {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": mp // 4},
    "longrope": lambda dim, mp: {"rope_type": "longrope", "original_max_position_embeddings": mp // 4,
                                 "short_factor": [1.0 + 0.01 * j for j in range(dim // 2)],
                                 "long_factor": [1.0 + 0.5 * j for j in range(dim // 2)]},
}


# Config classes of sub-models that are not text decoders (their RoPE, if any, is 2-D over
# image patches or runs over audio frames in an encoder).
NOT_DECODER = (r"Vision|ViT|Audio|VQ|Vqgan|Encoder|Perceiver|Adapter|DiT|BigVGAN|Token2Wav|Prompt|MaskDecoder|Detr"
               r"|^Sam\d|EdgeTam|Eomt|LoFTR")


# Model types whose RoPE rotary's loader does not reproduce yet, by cause. The conformance test
# requires exactly these to mismatch, so the list cannot go stale in either direction.
_GAPS = {
    "the default config rotates an odd number of features (int(head_dim * partial_rotary_factor) = 21 for "
    "GLM-4.5's 4096/96 heads, 73 for Qwen3-Omni's 2048/28): transformers rotates 2*ceil(d/2) features at "
    "base^(-2j/d); rotary requires an even rotated width (the published checkpoints' head_dim 128 is)": [
        "glm4_moe", "qwen3_omni_moe_text", "qwen3_omni_moe_thinker"],
    "the module's default mrope_section does not fit the default config's head ([24, 20, 20] = 64 pairs for a "
    "32-pair head; [11, 11, 10] = 32 for a 128-pair head): transformers slices past the sections, rotary "
    "refuses a section that does not sum to the rotated pairs (the key is named)": [
        "qwen3_omni_moe_talker_text", "qwen4_exp", "qwen4_exp_text"],
    "transformers' module ignores the config's rotary_dim (64 of head_dim 128) and rotates the whole head; "
    "rotary honours rotary_dim": ["minimax_m3_vl", "minimax_m3_vl_text"],
    "two RoPEs in one layer: rope_parameters 'main' and 'compress' are not layer types (the attention and "
    "its KV compressor use different thetas); rotary's per-layer model has one RoPE per layer and "
    "refuses the config, naming rope_parameters": ["deepseek_v4"],
    "a rotation rotary's layouts do not express: BLT pairs (2i, 2i+1) against cat(freqs, freqs) tables "
    "(the two members of a pair at different frequencies); nanochat's rotate_half has the other sign "
    "(the inverse rotation)": ["blt_global_transformer", "blt_local_decoder", "blt_patcher", "nanochat"],
}
KNOWN_GAPS = {model_type: reason for reason, types in _GAPS.items() for model_type in types}


@dataclasses.dataclass
class Result:
    """One model type: 'matched', 'mismatch' or 'not covered', with the reason and the variants."""

    model_type: str
    status: str
    reason: str = ""
    variants: list = dataclasses.field(default_factory=list)
    worst: dict = dataclasses.field(default_factory=dict)  # variant -> (inv_freq rel, cos/sin abs)
    notes: list = dataclasses.field(default_factory=list)


def rope_model_types():
    """(model_type, config class, modeling module name) for every model type whose modeling
    module defines a ``*RotaryEmbedding`` class, found from the source without importing it."""
    import os

    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES, model_type_to_module_name

    root = os.path.join(os.path.dirname(transformers.__file__), "models")
    out = []
    for model_type in CONFIG_MAPPING_NAMES:
        module = model_type_to_module_name(model_type)
        folder = os.path.join(root, module)
        if not os.path.isdir(folder):
            continue
        sources = [f for f in sorted(os.listdir(folder)) if f.startswith("modeling_") and f.endswith(".py")]
        if any(re.search(r"^class \w*Rotary\w*\(", open(os.path.join(folder, f)).read(), re.M) for f in sources):
            out.append((model_type, module, [f[:-3] for f in sources]))
    return out


def _rotary_classes(module_name, files):
    classes = []
    for f in files:
        mod = importlib.import_module(f"transformers.models.{module_name}.{f}")
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and re.fullmatch(r"\w*Rotary\w*", name) and obj.__module__ == mod.__name__:
                classes.append((mod, obj))
    return classes


def _takes_config(cls, configs):
    """Whether cls is built from one of the model's configs (by its `config` annotation, which
    may name the composite config although the language model's is passed)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if not params or params[0].name != "config":
        return False
    ann = params[0].annotation
    name = ann.__name__ if isinstance(ann, type) else str(ann).strip("'\"")
    return ann is inspect.Parameter.empty or name in {type(c).__name__ for c in configs} or name.endswith("Config")


def _candidate_configs(config):
    """The config and, for composite models, the language model's sub-config."""
    out = [(config, "")]
    try:
        text = config.get_text_config()
    except Exception:  # noqa: BLE001 - a config class without a usable text config
        text = None
    if text is not None and text is not config:
        names = [k for k, v in vars(config).items() if v is text]
        if names:  # the key of the language model's config in the config dict
            out.append((text, names[0]))
    return out


def find_rotary(model_type, module_name, files):
    """(config, where, rotary class, modeling module) or a reason why there is none."""
    from transformers import CONFIG_MAPPING

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = CONFIG_MAPPING[model_type]()
    except Exception as e:  # noqa: BLE001
        return f"default config fails to build ({type(e).__name__})"
    try:
        classes = _rotary_classes(module_name, files)
    except Exception as e:  # noqa: BLE001
        return f"modeling module fails to import ({type(e).__name__})"
    if re.search(NOT_DECODER, type(config).__name__):
        return f"not a decoder ({type(config).__name__}: vision, audio or encoder sub-model)"
    candidates = [c for c in reversed(_candidate_configs(config)) if getattr(c[0], "rope_parameters", None)]
    for mod, cls in sorted(classes, key=lambda mc: "Vision" in mc[1].__name__):
        if not _takes_config(cls, [c for c, _ in _candidate_configs(config)]):
            continue
        for cand, where in candidates:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rot = cls(cand)
            except Exception:  # noqa: BLE001 - not the config this module is built from
                continue
            if any(n.endswith("inv_freq") for n, _ in rot.named_buffers()):
                return config, where, cls, mod
    # GPT-J / CodeGen: a sinusoid table built from the config, without rope_parameters.
    for mod, cls in classes:
        if hasattr(mod, "create_sinusoidal_positions") and _takes_config(cls, [config]):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if _is_table(cls(config)):
                        return config, "", cls, mod
            except Exception:  # noqa: BLE001 - not built from this config
                continue
    if any("Vision" in c.__name__ or "ViT" in c.__name__ for _, c in classes) and len(classes) == sum(
            "Vision" in c.__name__ or "ViT" in c.__name__ for _, c in classes):
        return "vision encoder only (2-D RoPE over image patches, not a decoder's 1-D RoPE)"
    return ("no rotary module built from the model's config (its RoPE takes fixed dim/base arguments, or "
            "the model type is a wrapper whose language model is its own model type)")


def _is_table(rot):
    """GPT-J / CodeGen: sin and cos of every position in `embed_positions`, no inv_freq."""
    return hasattr(rot, "embed_positions") and not any(n.endswith("inv_freq") for n, _ in rot.named_buffers())


def _table_inv_freq(rot):
    """transformers' inverse frequencies, read off its table: the float32 angle at position 1 is
    inv_freq itself, recovered by atan2 of its sin and cos to about one float32 ulp."""
    table = rot.embed_positions.double()
    half = table.shape[-1] // 2
    return torch.atan2(table[1, :half], table[1, half:])


def _applied_inv_freq(rot, inv):
    """inv_freq in the order of the pairs the module rotates: M-RoPE modules may store it
    permuted and reorder it in recomposition_frequencies (ERNIE-4.5-VL)."""
    if not hasattr(rot, "recomposition_frequencies"):
        return inv
    out = rot.recomposition_frequencies(inv.expand(3, 1, 1, inv.numel()).clone()).reshape(-1)
    if out.numel() == 2 * inv.numel():  # cat(freqs, freqs) or each pair's value twice
        out = out[: inv.numel()] if torch.equal(out[: inv.numel()], out[inv.numel():]) else out[0::2]
    return out


def _pair_count(rot, layer_type):
    if _is_table(rot):
        return rot.embed_positions.shape[-1] // 2
    return getattr(rot, f"{layer_type}_inv_freq" if layer_type else "inv_freq").numel()


def _layer_types(rot):
    params = inspect.signature(rot.forward).parameters
    if "layer_type" not in params:
        return [None]
    return [t for t in sorted(getattr(rot, "layer_types", [])) if f"{t}_inv_freq" in dict(rot.named_buffers())]


def _hf_values(rot, pos, layer_type, hidden):
    prefix = "" if layer_type is None else f"{layer_type}_"
    x = torch.zeros(1, pos.shape[-1], hidden)
    kw = {} if layer_type is None else {"layer_type": layer_type}
    with torch.no_grad():
        out = rot(x, pos, **kw)
    # Llama 4 and DeepSeek-V2 return freqs_cis, complex cos + i sin per pair
    cos, sin = (out.real, out.imag) if isinstance(out, torch.Tensor) and out.is_complex() else out
    if _is_table(rot):  # GPT-J / CodeGen return (sin, cos)
        sin, cos = cos, sin
        return _table_inv_freq(rot).numpy(), 1.0, cos.double().numpy(), sin.double().numpy()
    inv = _applied_inv_freq(rot, getattr(rot, f"{prefix}inv_freq").detach().double()).numpy()
    scaling = getattr(rot, f"{prefix}attention_scaling", getattr(rot, "attention_scaling", 1.0))
    return inv, float(scaling), cos.double().numpy(), sin.double().numpy()


def _pairs(table, pairs):
    """Per-pair values from HF's cos/sin (B, T, R): cat(freqs, freqs), interleaved or R = pairs."""
    r = table.shape[-1]
    if r == pairs:
        return table
    if r != 2 * pairs:
        raise AssertionError(f"transformers' cos has width {r}; rotary rotates {2 * pairs} features")
    if np.array_equal(table[..., :pairs], table[..., pairs:]):
        return table[..., :pairs]
    return table[..., 0::2]


def _rotary_values(rc, pos):
    """rotary's per-pair factor * cos and factor * sin, read off the rotation of a basis vector."""
    pairs = rc.dims // 2
    x = torch.zeros(1, 1, pos.shape[-1], rc.head_dim)
    if rc.traditional:
        x[..., 0:rc.dims:2] = 1.0
    else:
        x[..., :pairs] = 1.0
    y = rc.rope(x, position_ids=pos, precision="compat")[0, 0].double().numpy()
    if rc.traditional:
        return y[..., 0:rc.dims:2], y[..., 1:rc.dims:2]
    return y[..., :pairs], y[..., pairs:rc.dims]


def max_positions(config_text):
    """max_position_embeddings; 4096 for models without one (RecurrentGemma)."""
    return int(getattr(config_text, "max_position_embeddings", 0) or 4096)


def positions(config_text, mrope, original):
    """Position ids below and past the pretraining length (dynamic NTK and LongRoPE switch
    there), (1, T), or (3, 1, T) with three different streams for M-RoPE."""
    mp = max_positions(config_text)
    short = [0, 1, 2, 5, 17, 100, max(original - 1, 0)]
    long = short + [original + 7, mp - 1, mp + 1000]
    out = []
    for ids in (short, long):
        p = torch.tensor(sorted(set(ids)), dtype=torch.int64)[None]
        if mrope:
            p = torch.stack([p, p // 2 + 3, p % 7])
        out.append(p)
    return out


class TransformersFails(Exception):
    """transformers' own rotary module cannot be built or run for this config."""


def compare(hf_values, rc, pos):
    """Worst inv_freq relative error and cos/sin difference; raises on a mismatch with the
    offending quantity named."""
    inv_hf, af_hf, cos_hf, sin_hf = hf_values
    seq_len = int(pos.max()) + 1
    freqs = rc.frequencies(seq_len)
    inv_rot = np.asarray(freqs.inv_freq, dtype=np.float64)
    if inv_rot.shape != inv_hf.shape:
        raise AssertionError(f"{inv_hf.size} frequencies in transformers, {inv_rot.size} in rotary")
    inv_rel = float(np.max(np.abs(inv_rot - inv_hf) / np.maximum(np.abs(inv_hf), 1e-300), initial=0.0))
    if inv_rel > 4e-6:  # HF builds inv_freq in float32: a few ulp
        raise AssertionError(f"inv_freq differs by {inv_rel:.2e} (relative)")
    if not math.isclose(freqs.attention_factor, af_hf, rel_tol=1e-6):
        raise AssertionError(f"attention factor {freqs.attention_factor!r} in rotary, {af_hf!r} in transformers")
    pairs = inv_rot.size
    cos_r, sin_r = _rotary_values(rc, pos)
    worst = 0.0
    for name, hf, mine in (("cos", cos_hf, cos_r), ("sin", sin_hf, sin_r)):
        hf = _pairs(hf[0] if hf.ndim == 3 else hf, pairs)
        # The float32 angles may differ by position * (float32 inv_freq difference) and by the
        # rounding of the angle itself; cos/sin evaluation adds a few ulp.
        p = pos.reshape(-1, pos.shape[-1]).abs().max(0).values.double().numpy()[:, None]
        dinv = np.abs(inv_rot.astype(np.float32).astype(np.float64) - inv_hf)
        angle = p * np.abs(inv_hf)
        bound = af_hf * (p * dinv + 2 * F32_EPS * angle) + 1e-6
        err = np.abs(mine - hf)
        if np.any(err > bound):
            i = np.unravel_index(np.argmax(err - bound), err.shape)
            raise AssertionError(f"{name} differs by {err[i]:.2e} at position {int(p[i[0], 0])}, pair {i[1]}"
                                 f" (bound {bound[i]:.2e})")
        worst = max(worst, float(np.max(err)))
    return inv_rel, worst


def _apply_function(mod, config):
    # DeepSeek-style files pick the interleaved function when the config says rope_interleave
    name = "apply_rotary_pos_emb"
    if getattr(config, "rope_interleave", False) and hasattr(mod, name + "_interleave"):
        name += "_interleave"
    fn = getattr(mod, name, None)
    fn = getattr(fn, "__wrapped__", fn)
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
    if params[:4] == ["q", "k", "cos", "sin"]:
        return fn
    if params[:3] == ["x", "cos", "sin"]:  # Gemma 4: one tensor at a time
        def both(q, k, cos, sin):
            return fn(q, cos, sin), fn(k, cos, sin)
        both.__name__ = fn.__name__
        return both
    if params[:3] == ["tensor", "sin", "cos"]:  # GPT-J, CodeGen: (B, T, H, D), the rotated part only
        def gptj(q, k, cos, sin):
            width = 2 * cos.shape[-1]

            def one(x):
                turned = fn(x[..., :width].transpose(1, 2), sin, cos).transpose(1, 2)
                return torch.cat([turned, x[..., width:]], dim=-1)
            return one(q), one(k)
        gptj.__name__ = fn.__name__
        return gptj
    return None


def check_layout(mod, rot, rc, pos, layer_type, hidden):
    """The modeling file's own apply_rotary_pos_emb(q, k, cos, sin) against rotary.rope_qk on
    random q, k: the pair layout and partial-rotary convention. False when the file has no
    function of that signature, Gemma 4's (x, cos, sin) or GPT-J's (tensor, sin, cos) (the layout
    is then not checked)."""
    fn = _apply_function(mod, getattr(rot, "config", None))
    if fn is None:
        return False
    pos = pos[..., :4]  # positions 0..5: angles agree to a few ulp, so any layout error shows
    _, _, cos, sin = _hf_values(rot, pos, layer_type, hidden)
    cos, sin = torch.from_numpy(cos).float(), torch.from_numpy(sin).float()
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 2, pos.shape[-1], rc.head_dim, generator=g)
    k = torch.randn(1, 1, pos.shape[-1], rc.head_dim, generator=g)
    want_q, want_k = rc.rope_qk(q, k, position_ids=pos, precision="compat")
    width = rc.head_dim
    try:
        with torch.no_grad():
            got_q, got_k = fn(q, k, cos, sin)
    except RuntimeError:  # partial rotary done by the caller: the function sees the rotated part
        width = cos.shape[-1]
        with torch.no_grad():
            got_q, got_k = fn(q[..., :width], k[..., :width], cos, sin)
    # Attention sees q.k: compare scores, which do not depend on the order the features are
    # stored in (DeepSeek's interleaved function returns its result de-interleaved).
    got = got_q @ got_k.transpose(-1, -2)
    want = want_q[..., :width] @ want_k[..., :width].transpose(-1, -2)
    err = ((got - want).abs().max() / want.abs().max()).item()
    if err > 1e-5:
        raise AssertionError(f"layout: q.k after transformers' {fn.__name__} and after rotary differ by {err:.1e}"
                             f" (relative; rotary: {'interleaved' if rc.traditional else 'half-split'} pairs, "
                             f"{rc.dims} of {rc.head_dim} features)")
    return True


def _with_rope_parameters(config, where, layer_type, params):
    """A copy of config whose (per-layer-type) rope_parameters are replaced by params, keeping
    rope_theta and the keys that are not about scaling (partial rotary, M-RoPE sections)."""
    d = config.to_dict()
    text = d[where] if where else d
    old = text["rope_parameters"]
    entry = old[layer_type] if layer_type is not None else old
    keep = {k: entry[k] for k in ("rope_theta", "partial_rotary_factor", "mrope_section", "mrope_interleaved")
            if k in entry}
    new = dict(keep, **params)
    if layer_type is not None:
        text["rope_parameters"] = dict(old, **{layer_type: new})
    else:
        text["rope_parameters"] = new
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return type(config).from_dict(d)


@functools.lru_cache(maxsize=None)
def _source(obj):
    return inspect.getsource(obj)


def _with_module_mrope_default(config, where, cls):
    """transformers' M-RoPE modules fall back to a section hard-coded in the module when the
    config has none; real checkpoints write it. Write that default into the config so both
    sides see it (the loader knows no model-specific default)."""
    m = re.search(r'get\("mrope_section", (\[[0-9, ]+\])\)', _source(cls))
    text = _text(config, where)
    params = getattr(text, "rope_parameters", None) or {}
    if m is None or "mrope_section" in params or set(params) & set(getattr(text, "layer_types", None) or []):
        return config, ""
    d = config.to_dict()
    (d[where] if where else d)["rope_parameters"]["mrope_section"] = ast.literal_eval(m.group(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return type(config).from_dict(d), f"mrope_section {m.group(1)} (the module's default) written into the config"


def _text(config, where):
    return getattr(config, where) if where else config


def _check_variant(config, where, cls, layer_type, mod=None):
    """(inv_freq rel, cos/sin abs) worst over both position sets; raises on a mismatch. With
    the modeling module `mod`, also the layout (check_layout); returns whether it was checked."""
    text = _text(config, where)
    params = (text.rope_parameters[layer_type] if layer_type is not None
              else getattr(text, "rope_parameters", None) or {})
    original = int(params.get("original_max_position_embeddings") or max_positions(text))
    if params.get("rope_type") == "dynamic":
        original = max_positions(text)
    hidden = int(getattr(text, "hidden_size", 64) or 64)
    worst = (0.0, 0.0)
    mrope = "mrope_section" in params or "mrope" in _source(cls)
    rc = None
    for pos in positions(text, mrope, original):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rot = cls(text)  # fresh: dynamic NTK and LongRoPE keep state between calls
            if _is_table(rot):  # the table ends at max_position_embeddings
                pos = pos[..., pos.reshape(-1, pos.shape[-1])[0] < rot.embed_positions.shape[0]]
            hf_values = _hf_values(rot, pos, layer_type, hidden)
        except Exception as e:  # noqa: BLE001
            raise TransformersFails(f"{type(e).__name__}: {e}") from e
        # After transformers: a config transformers cannot run has nothing to compare with.
        rc = rc or rotary.from_hf_config(config.to_dict())
        r = compare(hf_values, rc, pos)
        worst = (max(worst[0], r[0]), max(worst[1], r[1]))
    layout = mod is not None and check_layout(mod, rot, rc, pos, layer_type, hidden)
    return worst, layout


@contextlib.contextmanager
def one_torch_thread():
    """Tiny tensors: torch's thread pool only costs time (and contends on a shared machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def check_model_type(model_type, module_name, files, variants=True):
    """Result for one model type: every variant its rotary module accepts, for every layer type
    the single-RoPE loader describes (the full-attention one for per-layer models)."""
    found = find_rotary(model_type, module_name, files)
    if isinstance(found, str):
        return Result(model_type, "not covered", found)
    config, where, cls, mod = found
    config, note = _with_module_mrope_default(config, where, cls)
    text = _text(config, where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rot = cls(text)
    layer_types = _layer_types(rot)
    # The layer type whose RoPE the single-RoPE loader describes: full attention's, else that of
    # the first layer (in the config's layer_types) with a RoPE.
    in_order = [t for t in (getattr(text, "layer_types", None) or []) if t in layer_types]
    layer_type = "full_attention" if "full_attention" in layer_types else (in_order + layer_types)[0]
    result = Result(model_type, "matched", f"via {where}" if where else "")
    if note:
        result.notes.append(note)
    if len(layer_types) > 1:
        result.reason = (result.reason + "; " if result.reason else "") + \
            f"per-layer RoPE: compared {layer_type} of {', '.join(map(str, layer_types))}"
    params = (text.rope_parameters[layer_type] if layer_type is not None
              else getattr(text, "rope_parameters", None) or {})
    names = [("default config", None)]
    if variants and "ROPE_INIT_FUNCTIONS" in _source(cls.__init__):
        names += [(name, make) for name, make in VARIANTS.items()]
    pairs = _pair_count(rot, layer_type)
    for name, make in names:
        try:
            cfg = config if make is None else _with_rope_parameters(
                config, where, layer_type, make(2 * pairs, max_positions(text)))
        except Exception:  # noqa: BLE001 - the config class refuses this rope_type: not a variant of it
            continue
        if layer_type is not None and name == "yarn_truncate_false":
            # transformers reads `truncate` from the top level of rope_parameters, which for
            # per-layer-type configs holds only layer types: it always truncates there.
            result.notes.append("yarn truncate=false not honoured by transformers for per-layer configs")
            continue
        try:
            result.worst[name], layout = _check_variant(cfg, where, cls, layer_type, mod if make is None else None)
            if make is None and not layout:
                result.notes.append("layout not checked (no apply_rotary_pos_emb of a known signature in the modeling file)")
            result.variants.append(name if make else f"{name} ({params.get('rope_type', 'default')})")
        except TransformersFails as e:
            if make is None:  # the model's own default config: nothing to compare with
                return Result(model_type, "not covered", f"transformers' rotary module fails on the default config ({e})")
            result.notes.append(f"{name}: transformers fails ({str(e)[:80]})")
        except Exception as e:  # noqa: BLE001 - recorded: the table names the failing variant
            result.status = "mismatch"
            result.reason = (result.reason + "; " if result.reason else "") + f"{name}: {type(e).__name__}: {e}"
    return result
