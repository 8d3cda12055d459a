"""Bulk enrolment speed through the CLI: ``facerec enroll DIR``, ONNX against dlib.

A temporary tree ``<tmp>/<Name>/<images>`` is built from symlinks to LFW-dev
(``../shared/data/lfw-dev``): the first ``--identities`` people in name order that have
at least 2 images, each with their images up to ``--per-person``. Then, for each engine
(``FACEREC_ENGINE=onnx`` and ``dlib``, in the same run), ``.venv/bin/facerec enroll <tmp>``
runs once with ``FACEREC_DATA_DIR`` pointing at a fresh temporary directory and is timed
from start to exit: process start, migrations, model loading (for ONNX also the one-off
conversion into ``<data_dir>/models``), then every file decoded, detected, checked
against the quality gates, embedded and stored. The counts come from the CLI's final
line ("enrolled N, skipped N, failed N, people created N"); faces/s is enrolled faces
per second of that wall time.

"startup s" is a second ``facerec enroll`` on an empty folder with the same, now filled,
data directory: the fixed cost of one invocation (warm), so "net faces/s" is enrolled
faces per second of the time beyond it.

    python bench/enroll.py [--identities 100] [--per-person 5] [--engines onnx,dlib]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lfw-dev"
FACEREC = Path(sys.executable).with_name("facerec")
REPORT = re.compile(r"enrolled (\d+), skipped (\d+), failed (\d+), people created (\d+)")
# a row of the CLI's table of skipped and failed files: "│ file │ failed │ code: message │"
ROW = re.compile(r"│\s*\S.*?│\s*(failed|skipped)\s*│\s*([^:│]+?)\s*(?::|│)")


@dataclass
class Run:
    engine: str
    files: int
    enrolled: int
    skipped: int
    failed: int
    people: int
    seconds: float
    startup: float
    reasons: Counter[str]

    @property
    def rate(self) -> float:
        return self.enrolled / self.seconds

    @property
    def net_rate(self) -> float:
        return self.enrolled / max(1e-9, self.seconds - self.startup)


def build_tree(root: Path, target: Path, identities: int, per_person: int) -> int:
    """Symlink the chosen people's images into ``target/<Name>/``; the number of files."""
    files = 0
    chosen = 0
    for person in sorted(d for d in root.iterdir() if d.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) < 2:
            continue
        folder = target / person.name
        folder.mkdir(parents=True)
        for image in images[:per_person]:
            (folder / image.name).symlink_to(image)
            files += 1
        chosen += 1
        if chosen >= identities:
            break
    return files


def enroll(directory: Path, data_dir: Path, engine: str) -> tuple[float, str]:
    """Run ``facerec enroll``; ``(seconds, output)``. Raises when it fails outright."""
    env = {
        **os.environ,
        "FACEREC_DATA_DIR": str(data_dir),
        "FACEREC_ENGINE": engine,
        "COLUMNS": "200",  # keep rich from wrapping the report line
    }
    start = time.perf_counter()
    done = subprocess.run(
        [str(FACEREC), "enroll", str(directory)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode not in {0, 1}:  # 1: some file failed, still a report
        raise RuntimeError(f"facerec enroll ({engine}) exited {done.returncode}:\n{output}")
    return seconds, output


def measure(tree: Path, files: int, engine: str, scratch: Path) -> Run:
    data_dir = Path(tempfile.mkdtemp(prefix=f"data-{engine}-", dir=scratch))
    seconds, output = enroll(tree, data_dir, engine)
    found = REPORT.findall(output)
    if not found:
        raise RuntimeError(f"no report line in the output of facerec enroll ({engine}):\n{output}")
    enrolled, skipped, failed, people = map(int, found[-1])
    reasons = Counter(f"{outcome} {why}" for outcome, why in ROW.findall(output))
    empty = scratch / "empty"
    empty.mkdir(exist_ok=True)
    startup, _ = enroll(empty, data_dir, engine)
    return Run(engine, files, enrolled, skipped, failed, people, seconds, startup, reasons)


def print_table(runs: list[Run]) -> None:
    print(
        f"{'engine':<7}{'files':>7}{'enrolled':>10}{'skipped':>9}{'failed':>8}{'seconds':>9}"
        f"{'faces/s':>9}{'startup s':>11}{'net faces/s':>13}"
    )
    for r in runs:
        print(
            f"{r.engine:<7}{r.files:>7}{r.enrolled:>10}{r.skipped:>9}{r.failed:>8}"
            f"{r.seconds:>9.1f}{r.rate:>9.2f}{r.startup:>11.1f}{r.net_rate:>13.2f}"
        )
    for r in runs:
        if r.reasons:
            listed = ", ".join(f"{why} {n}" for why, n in sorted(r.reasons.items()))
            print(f"  {r.engine}: {listed}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--identities", type=int, default=100, help="people with >= 2 images")
    parser.add_argument("--per-person", type=int, default=5, help="most images per person")
    parser.add_argument(
        "--engines",
        default="onnx,dlib",
        type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
        help="comma-separated, of onnx and dlib",
    )
    args = parser.parse_args()
    if args.identities < 1 or args.per_person < 1:
        parser.error("--identities and --per-person must be at least 1")
    if not args.engines or set(args.engines) - {"onnx", "dlib"}:
        parser.error("--engines takes onnx and/or dlib")
    root = LFW.resolve()
    if not root.is_dir():
        print(f"skipped: {root} is absent (see shared/data/README.md)")
        return 0
    with tempfile.TemporaryDirectory(prefix="facerec-bench-enroll-") as tmp:
        scratch = Path(tmp)
        tree = scratch / "people"
        files = build_tree(root, tree, args.identities, args.per_person)
        people = sum(1 for _ in tree.iterdir())
        print(
            f"{people} LFW-dev people, {files} images (at most {args.per_person} each); "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n"
        )
        runs = [measure(tree, files, engine, scratch) for engine in args.engines]
    print_table(runs)
    by = {r.engine: r for r in runs}
    if "onnx" in by and "dlib" in by and by["dlib"].enrolled:
        print(f"\nenrolment faces/s onnx / dlib: {by['onnx'].rate / by['dlib'].rate:.1f}x")
        print(f"net of startup, onnx / dlib: {by['onnx'].net_rate / by['dlib'].net_rate:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
