from typing import Any, TypeVar

A = TypeVar("A")

def rope(a: A, dims: int, *, traditional: bool, base: float | None, scale: float, offset: int | Any,
         freqs: Any | None = ...) -> A: ...
def rope_vjp(cotangent: A, dims: int, *, traditional: bool, base: float | None, scale: float, offset: int | Any,
             freqs: Any | None = ...) -> A: ...
