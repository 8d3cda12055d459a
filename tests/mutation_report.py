"""Mutation score per module from a finished ``mutmut run`` (``make mutation``).

Reads ``mutants/**/*.py.meta`` (mutmut's record of each mutant's test exit code) and
prints per module: killed, survived, explained as equivalent, not covered by any fast
test, not yet run, and the score (killed, timeouts and type-check catches over every
mutant run, uncovered ones included; "adj." leaves out the explained ones). Then every
survivor that ``tests/equivalent_mutants.txt`` does not explain.

Usage: ``python tests/mutation_report.py [MUTANTS_DIR [BASELINE_DIR]]``. With a baseline
(an earlier full run), mutants this run did not check (``mutmut run NAMES`` re-ran only
some) take the baseline's result.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

EXPLAINED = Path(__file__).with_name("equivalent_mutants.txt")


def explained() -> dict[str, str]:
    """Survivors known to be equivalent (or not worth a test), with the reason."""
    reasons: dict[str, str] = {}
    if EXPLAINED.exists():
        for line in EXPLAINED.read_text().splitlines():
            name, _, reason = line.partition(" ")
            if name and not name.startswith("#"):
                reasons[name] = reason.strip()
    return reasons


def exit_codes(meta: Path, root: Path, baseline: Path | None) -> dict[str, int | None]:
    """Each mutant's test exit code (None: not run), from the baseline where not run here."""
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    if baseline is not None and (earlier := baseline / meta.relative_to(root)).exists():
        before = json.loads(earlier.read_text())["exit_code_by_key"]
        codes = {k: before.get(k) if c is None else c for k, c in codes.items()}
    return codes


def main(root: Path, baseline: Path | None = None) -> int:
    metas = sorted(root.glob("src/**/*.py.meta"))
    if not metas:
        print(f"no mutmut results under {root}: run `make mutation`")
        return 1
    known = explained()
    unexplained: list[str] = []
    print(
        f"{'module':42} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv.':>6} "
        f"{'no test':>7} {'pending':>7} {'score':>6} {'adj.':>6}"
    )
    for meta in metas:
        codes = exit_codes(meta, root, baseline)
        if not codes:
            continue
        statuses = Counter(status_by_exit_code[code] for code in codes.values())
        survivors = [k for k, c in codes.items() if status_by_exit_code[c] == "survived"]
        equivalent = sum(1 for k in survivors if k in known)
        unexplained += [k for k in survivors if k not in known]
        killed = statuses["killed"] + statuses["timeout"] + statuses["caught by type check"]
        no_tests = statuses["no tests"]  # no fast test runs this code: not killed either
        checked = killed + statuses["survived"] + no_tests
        score = killed / checked if checked else 1.0
        adjusted = killed / (checked - equivalent) if checked > equivalent else 1.0
        module = meta.relative_to(root / "src").as_posix().removesuffix(".meta")
        print(
            f"{module:42} {len(codes):7} {killed:6} {statuses['survived']:8} {equivalent:6} "
            f"{no_tests:7} {statuses['not checked']:7} {score:6.1%} {adjusted:6.1%}"
        )
    print(f"\n{len(unexplained)} surviving mutants not listed in {EXPLAINED.name}:")
    for name in unexplained:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    sys.exit(main(args[0] if args else Path("mutants"), args[1] if len(args) > 1 else None))
