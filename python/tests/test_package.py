"""The installed package: metadata, typing files, bundled libraries, stubs matching the code."""
import ast
import importlib.metadata
import inspect
import os
import subprocess
import sys

import pytest

import rotary
import rotary.hf

PKG = os.path.dirname(rotary.__file__)


def test_version_matches_metadata():
    assert importlib.metadata.version("rotary") == rotary.__version__


def test_wheel_carries_typing_and_its_libraries():
    names = set(os.listdir(PKG))
    assert {"py.typed", "__init__.pyi", "fast.pyi", "nn.pyi", "config.pyi", "torch.pyi", "scaling.pyi", "hf.pyi",
            "fused.pyi"} <= names
    assert {"librotary.so", "libhwy.so.1"} <= names
    ext = next(n for n in names if n.startswith("_rotary") and n.endswith(".so"))
    for lib in (ext, "librotary.so"):
        dyn = subprocess.run(["readelf", "-d", os.path.join(PKG, lib)], capture_output=True, text=True).stdout
        assert "[$ORIGIN]" in dyn, dyn  # finds its neighbours, not /usr/local's


def test_loads_its_own_libraries_and_imports_without_cuda():
    # One fresh interpreter that sees no GPU and no LD_LIBRARY_PATH: rotary imports, says it
    # cannot run on a GPU, and maps its own librotary and libhwy even where another
    # librotary.so is installed (cmake --install puts one in /usr/local/lib).
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", LD_LIBRARY_PATH="")
    code = ("import rotary\n"
            "print(rotary.has_cuda)\n"
            "print(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'librotary' in l or 'libhwy' in l}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", env=env, check=True)
    has_cuda, maps = out.stdout.splitlines()
    assert has_cuda == "False"
    pkg = os.path.realpath(PKG)
    assert eval(maps) == [os.path.join(pkg, "libhwy.so.1"), os.path.join(pkg, "librotary.so")]
    ldd = subprocess.run(["ldd", os.path.join(PKG, "librotary.so")], capture_output=True, text=True).stdout
    assert "libcudart" not in ldd
    assert rotary.has_cuda == (rotary._rotary.has_cuda and rotary._rotary.cuda_available())


def stub_functions(name):
    tree = ast.parse(open(os.path.join(PKG, name)).read())
    return {n.name: [a.arg for a in n.args.args + n.args.kwonlyargs] for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("stub,module", [("__init__.pyi", rotary), ("fast.pyi", rotary.fast),
                                         ("torch.pyi", rotary.torch), ("config.pyi", rotary.config),
                                         ("hf.pyi", rotary.hf), ("fused.pyi", rotary.fused)])
def test_stubs_match_the_code(stub, module):
    for name, params in stub_functions(stub).items():
        f = getattr(module, name)
        if not inspect.isfunction(f):
            continue  # bound C++ functions carry no Python signature
        sig = inspect.signature(f)
        runtime = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        assert set(runtime) <= set(params), (name, runtime, params)


def test_every_public_function_and_make_call_have_their_docs():
    # A docstring written as an expression ("""...""" + ARGUMENTS) is no docstring: __doc__ is None.
    import rotary._call
    import rotary.fused
    for fn in (rotary.rope, rotary.rope_qk, rotary._call.make_call, rotary.fused.rope_and_cache,
               rotary.fused.rms_norm_rope, rotary.fused.rope_and_cache_mla, rotary.fused.shift_cache):
        assert fn.__doc__ and "precision" in fn.__doc__, fn.__name__
