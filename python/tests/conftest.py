"""The suite tests the installed package (the wheel in the interpreter's environment), never
the source tree: python/rotary has no compiled extension, and a stale build must not shadow
what users get."""
import os

import rotary

_source_package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rotary")
if os.path.samefile(os.path.dirname(rotary.__file__), _source_package):
    raise ImportError(f"rotary was imported from the source tree ({rotary.__file__}); install it "
                      "with `pip install .` and run pytest from outside python/")
