"""rotary against PyPI's MLX itself (mlx[cpu]): mlx.core.array in, mlx.core.array out.

A seeded grid of random calls of mx.fast.rope (3-, 4- and 5-D, T == 1 with B > 1,
float32/float16/bfloat16, both layouts, dims < D, int and array offsets of int32/int64/uint32,
base or freqs, scales, transposed inputs) and of its vjp, compared in compat mode (MLX's
float32 angles are the reference), and the exact error text of invalid calls.
Tolerances, absolute, for inputs of magnitude <= 4: float32 2e-6, float16 4e-3 (one ulp at 4),
bfloat16 3.2e-2 (one ulp at 4: a result may round to the neighbouring half-precision value),
plus, for calls with `base`, 8 * 4 * 2^-24 * (largest angle): MLX forms inv_freq = base^(-2i/dims)
in float32 arithmetic of its own, rotary rounds the double value, so the two float32 inverse
frequencies may differ by an ulp, which the position multiplies. With `freqs` (periods) both
take 1/period in float32 and only the rounding tolerance applies.
"""
import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
import rotary  # noqa: E402

TOL = {"float32": 2e-6, "float16": 4e-3, "bfloat16": 3.2e-2}
DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
N_CASES = 540


@pytest.fixture(autouse=True)
def compat():
    before = rotary.default_precision()
    rotary.set_default_precision("compat")
    yield
    rotary.set_default_precision(before)


def random_case(rng):
    ndim = int(rng.choice([3, 4, 5]))
    B = int(rng.integers(1, 4))
    T = 1 if rng.random() < 0.25 else int(rng.integers(1, 9))
    D = int(rng.choice([4, 8, 16, 32]))
    mid = [int(rng.integers(1, 4)) for _ in range(ndim - 3)]
    dims = int(rng.choice([d for d in range(2, D + 1, 2)]))
    kw = dict(traditional=bool(rng.random() < 0.5), scale=float(rng.choice([1.0, 0.5, 2.0, 0.125])))
    if rng.random() < 0.5:
        kw.update(base=float(rng.choice([10000.0, 500000.0, 100.0])))
    else:
        kw.update(base=None, freqs=mx.array(rng.uniform(1.0, 1e4, dims // 2).astype(np.float32)))
    kind = rng.choice(["int", "array", "scalar_array", "one"])
    if kind == "int":
        kw["offset"] = int(rng.integers(0, 5000))
    else:
        dt = DTYPES_INT[int(rng.integers(0, 3))]
        n = B if kind == "array" else 1
        values = rng.integers(0, 5000, n)
        kw["offset"] = mx.array(values[0] if kind == "scalar_array" else values, dtype=dt)
    shape = [B] + mid + [T, D]
    x = mx.array(rng.uniform(-4, 4, shape).astype(np.float32)).astype(DTYPES[str(rng.choice(list(DTYPES)))])
    if ndim >= 4 and rng.random() < 0.4:  # a transposed (non-contiguous) input of the same shape
        perm = list(range(ndim))
        perm[1], perm[-2] = perm[-2], perm[1]
        x = mx.transpose(mx.array(np.ascontiguousarray(np.transpose(np.array(x.astype(mx.float32)), perm))), perm).astype(x.dtype)
    return x, dims, kw


DTYPES_INT = [mx.int32, mx.int64, mx.uint32]


def largest_difference(a, b):
    assert isinstance(a, mx.array) and a.dtype == b.dtype and a.shape == b.shape
    return mx.max(mx.abs(a.astype(mx.float32) - b.astype(mx.float32))).item()


def test_random_grid_against_mlx():
    rng = np.random.default_rng(20260)
    worst, count = {}, {}
    for _ in range(N_CASES):
        x, dims, kw = random_case(rng)
        name = str(x.dtype).split(".")[-1]
        ref = mx.fast.rope(x, dims, **kw)
        got = rotary.fast.rope(x, dims, **kw)
        cot = mx.array(rng.uniform(-4, 4, x.shape).astype(np.float32)).astype(x.dtype)
        (vjp_ref,) = mx.vjp(lambda a: mx.fast.rope(a, dims, **kw), [x], [cot])[1]
        vjp_got = rotary.fast.rope_vjp(cot, dims, **kw)
        d = max(largest_difference(got, ref), largest_difference(vjp_got, vjp_ref))
        path = "base" if kw["base"] is not None else "freqs"
        assert d <= TOL[name] + (8 * 4 * 2.0**-24 * largest_angle(x, kw) if path == "base" else 0), (x.shape, dims, kw, d)
        worst[name, path] = max(worst.get((name, path), 0.0), d)
        count[name] = count.get(name, 0) + 2
    print("\nMLX differential (dtype: values compared, (dtype, path): largest difference):", count, worst)
    assert sum(count.values()) >= 1000 and set(count) == set(DTYPES)
    for name in DTYPES:  # with freqs both sides form the same float32 angles: rounding only
        assert worst[name, "freqs"] <= TOL[name]


def largest_angle(x, kw):
    offset = kw["offset"]
    largest_offset = offset if isinstance(offset, int) else int(mx.max(offset).item())
    return (largest_offset + x.shape[-2]) * kw["scale"]  # inv_freq[0] = 1


def test_nn_rope_and_rotary_rope_take_mlx_arrays():
    x = mx.array(np.random.default_rng(1).uniform(-1, 1, (2, 3, 6, 16)).astype(np.float32))
    for got, ref in [(rotary.nn.RoPE(16, traditional=True)(x, offset=5), mx.fast.rope(x, 16, traditional=True,
                                                                                      base=10000.0, scale=1.0, offset=5)),
                     (rotary.rope(x, offset=mx.array([3, 9])), mx.fast.rope(x, 16, traditional=False, base=10000.0,
                                                                             scale=1.0, offset=mx.array([3, 9])))]:
        assert largest_difference(got, ref) <= TOL["float32"]


def invalid_calls():
    x = mx.zeros((2, 3, 4, 8))
    return [
        (x, 8, dict(traditional=False, base=10000.0, scale=1.0, offset=0, freqs=mx.ones(4))),
        (x, 8, dict(traditional=False, base=None, scale=1.0, offset=0)),
        (mx.zeros((4, 8)), 8, dict(traditional=False, base=10000.0, scale=1.0, offset=0)),
        (mx.zeros((2, 4, 8), mx.int32), 8, dict(traditional=False, base=10000.0, scale=1.0, offset=0)),
        (x, 8, dict(traditional=False, base=10000.0, scale=1.0, offset=mx.array([[1, 2]]))),
        (x, 8, dict(traditional=False, base=10000.0, scale=1.0, offset=mx.array([1, 2, 3]))),
        (x, 8, dict(traditional=False, base=10000.0, scale=1.0, offset=mx.array([1.0, 2.0]))),
        (x, 0, dict(traditional=False, base=10000.0, scale=1.0, offset=0)),
        (x, 7, dict(traditional=False, base=10000.0, scale=1.0, offset=0)),
        (x, 10, dict(traditional=False, base=10000.0, scale=1.0, offset=0)),
        (x, 8, dict(traditional=False, base=None, scale=1.0, offset=0, freqs=mx.ones(3))),
        (x, 8, dict(traditional=False, base=None, scale=1.0, offset=0, freqs=mx.ones((2, 2)))),
    ]


@pytest.mark.parametrize("i", range(12))
def test_error_text_equals_mlx(i):
    x, dims, kw = invalid_calls()[i]
    with pytest.raises(Exception) as theirs:
        mx.eval(mx.fast.rope(x, dims, **kw))
    with pytest.raises(ValueError) as ours:
        rotary.fast.rope(x, dims, **kw)
    assert str(ours.value) == str(theirs.value)
