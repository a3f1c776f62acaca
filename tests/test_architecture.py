"""The architecture, kept true (issue 15): no import cycles, who may import whom, module size, light
package imports, and behaviour unchanged by the redesign (a tiny run, bit for bit).

The import graph is read from the source (every ``import`` / ``from ... import`` of a ``gazecxr``
module, at module level or inside a function; ``if TYPE_CHECKING:`` blocks excluded), so a lazy
import inside a function still counts as a dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 500

# The data flow: files -> index -> dataset -> model -> losses -> metrics -> report. A package may
# import only packages of a lower or equal rank (shared, rank 0, is for everyone). Stage 2
# (report) and the front-ends come after Stage 1 and are never imported by it.
RANKS = {
    # shared foundations
    "_lazy": 0,
    "schema": 0,
    "errors": 0,
    "extras": 0,  # which pip extra provides an optional module (one line when it is missing)
    "log": 0,
    "openmp": 0,
    "prediction": 0,
    "experiment": 0,  # assembles the per-package config sections (config modules only)
    "config": 0,
    "runinfo": 0,
    "vocab": 1,  # the finding vocabulary both stages share (uses data.labels / data.anatomy)
    "data": 1,
    "gaze": 1,
    "models": 2,
    "losses": 3,
    "metrics": 4,
    "train": 5,
    "anatomy": 5,  # the region localiser (data, models); Stage 2, predict and the viewer use it
    "report": 6,
    "synth": 6,
    "demo": 7,
    "viewer": 7,
    "cli": 8,
    "configs_cli": 8,
}
# Edges allowed although they point up the ranks (each with its reason).
# (Same-rank edges such as gaze -> vocab, the dictation maps naming a dictated finding, need no
# entry; ``experiment`` may import every package's ``config`` section, checked below.)
ALLOWED_UP: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph(type_only: bool = False) -> dict[str, set[str]]:
    """Module -> the gazecxr modules it imports; with ``type_only``, ``if TYPE_CHECKING:`` imports too."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return name

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = (
            set()
            if type_only
            else {
                id(n)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
                for n in ast.walk(node)
            }
        )
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                if t.startswith("gazecxr") and (r := resolve(t)) and r != mod:
                    graph[mod].add(r)
    return graph


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gazecxr"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_one_further_along_the_flow(graph: dict[str, set[str]]) -> None:
    bad = []
    for mod, targets in graph.items():
        a = package_of(mod)
        if a == "gazecxr":
            continue
        for t in targets:
            b = package_of(t)
            if b in ("gazecxr", a) or RANKS[b] <= RANKS[a]:
                continue
            if (a, b) in ALLOWED_UP or (a == "experiment" and t.endswith(".config")):
                continue
            bad.append(f"{mod} -> {t}")
    assert bad == [], "imports against the data flow:\n" + "\n".join(bad)


def test_stage1_never_reaches_stage2_or_a_front_end(graph: dict[str, set[str]]) -> None:
    """Transitively: nothing Stage 1 runs (data, gaze, models, losses, metrics, train) loads
    ``report``, ``demo`` or ``viewer``; the Stage-1 dataset does not pull in Stage 2. (Their
    config *sections* are schema, reached through ``gazecxr.experiment``, and do not count.)"""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for t in graph[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    stage1 = ("data", "gaze", "models", "losses", "metrics", "train", "vocab")
    for mod in graph:
        if package_of(mod) in stage1 and not mod.endswith(".cli") and mod != "gazecxr.metrics.report":
            later = {
                t
                for t in reach(mod)
                if package_of(t) in ("report", "demo", "viewer") and not t.endswith(".config")
            }
            assert not later, f"{mod} reaches {sorted(later)}"


def test_config_sections_import_only_the_schema(graph: dict[str, set[str]]) -> None:
    for mod, targets in graph.items():
        if mod.endswith(".config") and mod.count(".") == 2:
            assert targets <= {"gazecxr.schema", "gazecxr.data.labels"} | {
                t for t in targets if t.endswith(".config")
            }, (mod, targets)


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_importing_a_config_or_a_package_stays_light() -> None:
    """Every package ``__init__`` is lazy: loading the config (all sections) imports no torch."""
    code = (
        "import sys, gazecxr.config, gazecxr.data, gazecxr.models, gazecxr.losses, gazecxr.report, "
        "gazecxr.train, gazecxr.gaze, gazecxr.vocab, gazecxr.synth; "
        "heavy = [m for m in ('torch', 'pandas', 'gazecxr.report.generate') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_redesign_changed_no_behaviour_tiny_run_bit_identical(tmp_path: Path) -> None:
    """The same tiny training run, trained twice here, gives bit-identical weights (best and
    last), thresholds and metrics: that part can fail on any machine. Where this machine kind has
    a digest in ``tests/golden/tiny_run_digest.json`` (``python tests/run_digest.py --write`` on
    reference code), the run must also match it: a refactor must not change the numbers. Float
    kernels differ between machine kinds, so a digest recorded on another kind is no reference.
    Digests: recorded before the redesign (issue 15), re-recorded after the channels-last CNN
    (2026-12-02) and after REFLACX's pixel-centre convention became the heatmap default
    (2026-12-03, issue 23: every gaze map moved half a pixel, a deliberate change; the entries
    of the kinds that could not be rerun then were dropped)."""
    from run_digest import GOLDEN, machine_kind, run_digest, tiny_run

    digest = run_digest(tiny_run(tmp_path / "a"))
    assert run_digest(tiny_run(tmp_path / "b")) == digest, "the same run trained twice differs"
    mine = [m["digest"] for m in json.loads(GOLDEN.read_text())["machines"] if m["kind"] == machine_kind()]
    if mine:
        assert digest == mine[0]


def test_no_test_module_imports_another() -> None:
    """Shared fixtures live in conftest.py, shared helpers in helper modules (tiny_runs,
    data_fixtures, viewer_stub, ...): a test module imported by another runs its tests twice and
    hides what depends on what (issue 25)."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name} imports {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert not offenders, offenders


def test_no_cycle_even_through_type_only_imports() -> None:
    """A cycle closed by an ``if TYPE_CHECKING:`` import still ties the two modules together (the
    last one, anatomy.scores <-> anatomy.train, went with issue 25)."""
    assert cycles(import_graph(type_only=True)) == []


def test_the_objective_never_calls_the_model_nor_shuffles() -> None:
    """Every term is a function of the model's output and the batch's targets (issue 25): the
    encoders run in ``GazeCXRNet.forward_batch``, the shuffled control in the trainer."""
    banned = {"encode_text", "encode_fixations", "shuffle_gaze", "forward_batch", "embed_pairs"}
    for path in (SRC / "gazecxr" / "losses").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = {node.attr} if isinstance(node, ast.Attribute) else set()
            names |= {node.id} if isinstance(node, ast.Name) else set()
            names |= {a.name for a in node.names} if isinstance(node, ast.ImportFrom) else set()
            assert not names & banned, f"{path.name} uses {names & banned}"
