"""Install the package into this interpreter's environment: with uv when it can, else pip.

Used by the Makefile (``make demo`` / ``make test`` set-up). uv resolves and installs the same
pinned versions several times faster than pip (issue 26; README, "time on this machine":
the set-up of a fresh clone 19 s with uv, 71 s with pip). It is
used from PATH, else installed into the environment from the package index (one wheel); when that
fails, or with ``GAZECXR_INSTALLER=pip``, pip does the install as before. uv does not read pip's
configuration, so pip's effective index settings (``pip config list``: index-url,
extra-index-url, find-links, constraint, also from ``PIP_*`` variables) are passed to it, with
pip's rule of taking the best version across all indexes.

    python tools/install.py '.[eval,llm,viewer]'      # an editable install with these extras
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

# pip setting -> uv option (each may hold several space-separated values)
PIP_TO_UV = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args], text=True, capture_output=True
    )


def pip_settings() -> dict[str, list[str]]:
    """pip's effective settings of :data:`PIP_TO_UV`, from ``pip config list`` (files and env)."""
    found: dict[str, list[str]] = {}
    for line in pip("config", "list").stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in PIP_TO_UV and value:
            found.setdefault(name, []).extend(value.strip().strip("'\"").split())
    return found


def uv_binary() -> str | None:
    """uv from PATH, else installed into this environment (None when that fails)."""
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    if pip("install", "-q", "uv").returncode != 0:
        return None
    local = os.path.join(os.path.dirname(sys.executable), "uv")
    return local if os.path.exists(local) else None


def main(spec: str) -> int:
    start = time.perf_counter()
    uv = None if os.environ.get("GAZECXR_INSTALLER") == "pip" else uv_binary()
    if uv is not None:
        args = [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            sys.executable,
            "--index-strategy",
            "unsafe-best-match",
        ]
        for name, values in pip_settings().items():
            for value in dict.fromkeys(values):
                args += [PIP_TO_UV[name], value]
        if subprocess.run([*args, "-e", spec]).returncode == 0:
            print(f"installed {spec} with uv in {time.perf_counter() - start:.0f} s")
            return 0
        print("uv could not install it; trying pip", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "-q", "-e", spec]
    )
    if done.returncode == 0:
        print(f"installed {spec} with pip in {time.perf_counter() - start:.0f} s")
    return done.returncode


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/install.py SPEC   (e.g. '.[eval,llm,viewer]')")
    sys.exit(main(sys.argv[1]))
