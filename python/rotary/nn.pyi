from typing import Any, TypeVar

A = TypeVar("A")

class RoPE:
    dims: int
    traditional: bool
    base: float
    scale: float
    def __init__(self, dims: int, traditional: bool = ..., base: float = ..., scale: float = ...) -> None: ...
    def __call__(self, x: A, offset: int | Any = ...) -> A: ...
