"""Pinned CPU numerics: the environment under which the committed reference notebooks (book/nb/) were made.

The quick-profile references are regression data: `make test` re-executes them and compares the text. Bit-identical
results across x86-64 machines need the same CPU kernels everywhere, and each numerics library picks its kernels
from the host CPU when it loads. These variables force the AVX2 kernels (which every x86-64-v3 machine has):

    ATEN_CPU_CAPABILITY=avx2       torch's own vectorised ops (default: the best the CPU has, e.g. avx512)
    MKL_CBWR=AVX2                  Intel MKL (torch's BLAS/LAPACK): conditional numerical reproducibility, AVX2 path
    ONEDNN_MAX_CPU_ISA=AVX2        oneDNN (torch's convolutions, some matmuls): no AVX-512 / AMX kernels
    OPENBLAS_CORETYPE=Haswell      numpy/scipy's OpenBLAS: the Haswell (AVX2) kernels, not SkylakeX (AVX-512)
    NPY_DISABLE_CPU_FEATURES=...   numpy's runtime-dispatched AVX-512 loops (exp, log, sums, sorting) switched off

Measured by the issue's filer on an AVX-512 machine: the first three make the committed MNIST chapter pass nbval
(ATEN_CPU_CAPABILITY alone does not); the last two pin numpy in the same way (on this AVX2 machine they select
exactly the kernels already in use, so they change no reference). The values are set, not defaulted: whatever the
host environment says, every notebook execution and test run uses these. They must be in the environment before
torch/numpy load (MKL and oneDNN read them once), so the callers set them at process start; notebook kernels are
subprocesses and inherit them.

`IPDROP_PIN_CPU=0` turns the pinning off (e.g. to time the native kernels). On CPUs without AVX2 (ARM, old x86)
the variables are ignored by the libraries and the references do not reproduce bit for bit; the glued key figures
(tests/glue_tolerances.yaml) still apply.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

# numpy >= 2.4 groups its AVX-512 dispatch targets as X86_V4 (+ AVX512_ICL, AVX512_SPR); older releases name them
# one by one. Naming a target the installed numpy does not dispatch only gives an ImportWarning.
_NPY_AVX512_NEW = "X86_V4 AVX512_ICL AVX512_SPR"
_NPY_AVX512_OLD = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"

STATIC = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
}


def _numpy_features() -> str:
    try:
        major, minor = (int(p) for p in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return _NPY_AVX512_NEW
    return _NPY_AVX512_NEW if (major, minor) >= (2, 4) else _NPY_AVX512_OLD


def pinned() -> dict[str, str]:
    """The variables and values (empty when IPDROP_PIN_CPU=0)."""
    if os.environ.get("IPDROP_PIN_CPU", "1") == "0":
        return {}
    return {**STATIC, "NPY_DISABLE_CPU_FEATURES": _numpy_features()}


def apply(environ=os.environ) -> dict[str, str]:
    """Set the pinned variables in `environ` (overriding the host's values); return them.

    Warns on stderr when torch or numpy is already imported in this process: their kernels are then chosen, and
    only subprocesses (notebook kernels) get the pinned ones."""
    env = pinned()
    environ.update(env)
    late = [m for m in ("torch", "numpy") if m in sys.modules]
    if env and late and environ is os.environ:
        print(
            f"pin_cpu: {', '.join(late)} already imported in this process; the pinned CPU kernels apply to "
            "subprocesses only",
            file=sys.stderr,
        )
    return env


def main(argv=None) -> int:
    """`python scripts/pin_cpu.py`: print the variables; `... --exec CMD ARGS`: run CMD under them."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--exec"] and len(args) > 1:
        env = dict(os.environ)
        apply(env)
        os.execvpe(args[1], args[1:], env)
    if args:
        print("usage: pin_cpu.py [--exec COMMAND [ARGS...]]", file=sys.stderr)
        return 2
    for k, v in pinned().items():
        print(f"{k}={v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
