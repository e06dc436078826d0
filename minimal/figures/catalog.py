"""Every registered figure, and :func:`make_figures`, which computes, plots and writes them
(PNG + PDF) and records each in ``manifest.json`` (parameters, seed, runtime, versions)."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

from ..errors import RunDirError, UnknownNameError
from .registry import _REGISTRY, FigureSpec

__all__ = ["available", "get", "make_figures"]

_LOADED = False


def _load_all() -> None:
    """Import every module that registers figures (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    # by module name, not through the package (whose __init__ imports this module)
    import minimal.figures.clamp_figures  # noqa: F401
    import minimal.figures.cot_figures  # noqa: F401
    import minimal.figures.diag_figures  # noqa: F401
    import minimal.figures.fit_figures  # noqa: F401
    import minimal.figures.ih_figures  # noqa: F401
    import minimal.figures.lsa_figures  # noqa: F401
    import minimal.figures.momentum_figures  # noqa: F401
    import minimal.figures.net_figures  # noqa: F401
    import minimal.figures.net_sweep_figures  # noqa: F401
    import minimal.figures.repeat_figures  # noqa: F401
    import minimal.figures.sae_figures  # noqa: F401
    import minimal.figures.task_figures  # noqa: F401
    import minimal.figures.theory_figures  # noqa: F401


def available() -> dict[str, FigureSpec]:
    _load_all()
    return dict(_REGISTRY)


def get(name: str) -> FigureSpec:
    figs = available()
    if name not in figs:
        raise UnknownNameError(f"unknown figure {name!r}; available: {', '.join(figs)}")
    return figs[name]


def _jsonable(obj):
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return None if obj.size > 64 else obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def make_figures(names: list[str] | None, out: str | Path, quick: bool = False, seed: int = 0,
                 progress: bool = True, replace_full: bool = False) -> list[dict]:
    """Compute, plot and save the named figures (all when ``names`` is empty).

    ``quick`` makes small, fast variants, marked on the image; they never replace a full
    figure in ``out`` unless ``replace_full``."""
    from ..env import package_versions
    from ..runs import atomic_write_json
    figs = available()
    names = list(names or figs)
    for n in names:
        if n not in figs:
            raise UnknownNameError(f"unknown figure {n!r}; available: {', '.join(figs)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create the figure directory {out}: {exc.strerror}") from None
    mpath = out / "manifest.json"
    manifest = {}
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            manifest = {}
    manifest.setdefault("figures", {})
    if quick and not replace_full:
        full = [n for n in names if n in manifest["figures"]
                and not manifest["figures"][n].get("quick", False)]
        if full:
            raise RunDirError(f"{out} holds the full version of {', '.join(full[:3])}; a quick "
                              "preview would replace it (write quick figures elsewhere, e.g. "
                              "figures-quick/)")
    entries = []
    for name in names:
        spec = figs[name]
        if progress:
            print(f"figure {name}: computing{' (quick)' if quick else ''} ...", flush=True)
        t0 = time.perf_counter()
        kwargs = {"quick": quick, "seed": seed}
        params = inspect.signature(spec.data).parameters
        if "cache" in params:
            kwargs["cache"] = out / "_cache"
        if "data" in params:             # long runs kept (and committed) beside the figures
            kwargs["data"] = out / "data"
        data = spec.data(**kwargs)
        t1 = time.perf_counter()
        fig = spec.plot(data)
        if quick:   # a quick preview must never pass for the real figure
            fig.text(0.0, -0.01, "QUICK PREVIEW (small settings; not the result)",
                     ha="left", va="top", fontsize=8, color="C3", fontweight="bold")
            if fig._suptitle is not None:
                fig._suptitle.set_text("[quick] " + fig._suptitle.get_text())
        files = []
        for ext in ("png", "pdf"):
            path = out / f"{name}.{ext}"
            fig.savefig(path, dpi=130 if ext == "png" else None, bbox_inches="tight")
            files.append(path.name)
        t2 = time.perf_counter()
        import matplotlib.pyplot as plt
        plt.close(fig)
        entry = {"name": name, "description": spec.description, "files": files,
                 "quick": quick, "seed": seed, "params": _jsonable(data.get("params", {})),
                 "data_s": round(t1 - t0, 3), "plot_s": round(t2 - t1, 3),
                 "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        manifest["figures"][name] = entry
        manifest["versions"] = package_versions()
        # Record each figure as soon as it exists, so an interrupted long run keeps its manifest.
        atomic_write_json(mpath, manifest)
        entries.append(entry)
        if progress:
            print(f"figure {name}: wrote {', '.join(files)} ({t2 - t0:.1f} s)", flush=True)
    return entries
