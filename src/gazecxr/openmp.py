"""OpenMP wait policy for the CPU-bound commands (demo, serve)."""

from __future__ import annotations

import os
import sys


def prefer_passive_openmp_wait() -> None:
    """Let idle OpenMP threads sleep instead of spinning (unless the user chose otherwise).

    With the default active wait, torch's OpenMP threads spin between parallel regions; when the
    CPU is shared (other processes, a laptop doing other work) they fight over the cores. Measured
    on the 2-core development machine at load average ~12: one 96-px EfficientNet-Lite0 forward
    pass took 2.17 s with active waiting and 0.033 s with passive waiting (1 thread: 0.024 s).
    It must be set before torch is imported, so it has no effect when torch is already loaded.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
