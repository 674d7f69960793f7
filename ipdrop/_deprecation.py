"""Old module names kept importable: each old name forwards to its new home with a DeprecationWarning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["forwarding_module"]


def _home(name: str, obj: Any, target: ModuleType) -> str:
    """Where ``name`` is documented: the public ipdrop module that defines ``obj`` and exports ``name``,
    else ``target`` (the chapter driver that re-exports it; constants and modules have no defining module)."""
    defined_in = getattr(obj, "__module__", None)
    if isinstance(defined_in, str) and defined_in.startswith("ipdrop.") and "._" not in defined_in:
        module = importlib.import_module(defined_in)
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is obj:
            return defined_in
    return target.__name__


def forwarding_module(old: str, targets: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a deprecated module ``old`` replaced by the modules ``targets``.

    The old module offers every name in the targets' ``__all__`` (the first target that exports a name wins)
    and its ``__all__`` is their union, so the names are listed once, in the new homes. The targets are
    imported on first use. Each access warns with the name's new home (where the object is defined when that
    module exports it, e.g. :mod:`ipdrop.plotting` for a figure a chapter driver re-exports) and returns the
    object from there (the same object).
    """

    def exported() -> dict[str, ModuleType]:
        out: dict[str, ModuleType] = {}
        for target in targets:
            module = importlib.import_module(target)
            for name in module.__all__:
                out.setdefault(name, module)
        return out

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            return sorted(exported())
        target = exported().get(name) if not name.startswith("__") else None
        if target is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        obj = getattr(target, name)
        home = _home(name, obj, target)
        warnings.warn(f"{old}.{name} is deprecated; use {home}.{name} (same object)", DeprecationWarning, stacklevel=2)
        return obj

    def __dir__() -> list[str]:
        return sorted(exported())

    return __getattr__, __dir__
