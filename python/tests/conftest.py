"""Finds the built package: PYTHONPATH (ctest sets it), else <repo>/build*/python."""
import glob
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_repo = os.path.dirname(os.path.dirname(_here))

try:
    import rotary  # noqa: F401
except ImportError:
    for d in [os.environ.get("ROTARY_PY_BUILD_DIR", "")] + sorted(glob.glob(os.path.join(_repo, "build*", "python"))):
        if d and os.path.exists(os.path.join(d, "rotary", "__init__.py")) and glob.glob(os.path.join(d, "rotary", "_rotary*.so")):
            sys.path.insert(0, d)
            break
    import rotary  # noqa: F401
