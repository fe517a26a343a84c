"""JAX imported on first use, so that numpy-only work never pays for it.

`import jax` costs 1-1.5 s on a 2-core CPU, more than a whole 100-frame triangulation on numpy. The geometry
and core modules therefore name JAX through the proxies of this module: `jax` and `jnp` import the real
modules on their first attribute access, and `jit` compiles a function on its first call. Code that runs on
numpy arrays (the `xp=np` paths, `backend="numpy"`) never touches them, and a short `lift3d triangulate`
runs without JAX in the process (`tests/apps/test_short_runs.py`).

`after_import` runs a callback when a module is imported by anyone (the `Camera` pytree registration needs
JAX's tree utilities, but only once JAX exists); that import runs inside the guard `guard_imports` sets (the CLI's
`lift3d.io.atomic.deferred_interrupts`: a Ctrl-C landing in JAX's extension modules' initialisation can crash the
process at exit).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["jax", "jnp", "jit", "after_import", "guard_imports", "is_traced", "is_jax_array"]

_import_guard: list[Callable] = [contextlib.nullcontext]  # what a watched import runs inside (`guard_imports`)


class _LazyModule:
    """A module imported when one of its attributes is first read."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


jax = _LazyModule("jax")
jnp = _LazyModule("jax.numpy")


def jit(fun: Callable | None = None, /, **options) -> Callable:
    """`jax.jit(fun, **options)`, built on the first call (usable as `@jit` or `functools.partial(jit, ...)`).

    Args:
        fun: The function to compile.
        **options: Options of `jax.jit` (`static_argnames`, `donate_argnums`, ...).

    Returns:
        A function that calls the jitted `fun`; its other attributes (`lower`, `trace`, ...) are the jitted
        function's.
    """
    if fun is None:
        return functools.partial(jit, **options)
    return _LazyJit(fun, options)


class _LazyJit:
    """A function jitted on first use (see `jit`)."""

    def __init__(self, fun: Callable, options: dict) -> None:
        functools.update_wrapper(self, fun)
        self._fun, self._options, self._jitted = fun, options, None

    def _compiled(self) -> Callable:
        if self._jitted is None:
            self._jitted = jax.jit(self._fun, **self._options)
        return self._jitted

    def __call__(self, *args, **kwargs):
        return self._compiled()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._compiled(), attr)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls `callbacks` once the module `name` has been executed, whoever imports it."""

    def __init__(self, name: str) -> None:
        self.name, self.callbacks = name, []

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # find the real spec with the other finders
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module, callbacks = spec.loader.exec_module, self.callbacks

        def exec_then_call(module):  # noqa: ANN001
            with _import_guard[0]():
                exec_module(module)
            for callback in callbacks:
                callback(module)

        spec.loader = _Loader(spec.loader, exec_then_call)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader, exec_module: Callable) -> None:  # noqa: ANN001
        self._loader, self._exec_module = loader, exec_module

    def create_module(self, spec):  # noqa: ANN001
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:  # noqa: ANN001
        self._exec_module(module)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)


def after_import(name: str, callback: Callable[[Any], None]) -> None:
    """Call `callback(module)` once the top-level module `name` is imported (now, if it already is).

    Args:
        name: A top-level module name, e.g. "jax".
        callback: Called with the module, once.
    """
    if name in sys.modules:
        callback(sys.modules[name])
        return
    hook = next((f for f in sys.meta_path if isinstance(f, _AfterImport) and f.name == name), None)
    if hook is None:
        hook = _AfterImport(name)
        sys.meta_path.insert(0, hook)
    hook.callbacks.append(callback)


def guard_imports(guard: Callable) -> None:
    """Run the watched imports (`after_import`'s modules, JAX) inside `guard()`, a context manager factory."""
    _import_guard[0] = guard


def is_traced(tree: Any) -> bool:
    """Whether any leaf of `tree` is a JAX tracer (False without importing JAX when no one has)."""
    if "jax" not in sys.modules:
        return False
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def is_jax_array(x: Any) -> bool:
    """Whether `x` is a `jax.Array` (False without importing JAX when no one has)."""
    return "jax" in sys.modules and isinstance(x, jax.Array)
