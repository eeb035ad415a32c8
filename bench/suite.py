"""The default test run's time: serial against `-n 2`, and optionally against the suite
of another commit, alternating in the same rounds.

    python -m bench.suite [--rounds 2] [--seed 12345] [--against REF] [-- PYTEST ARGS]

Each round runs this checkout's suite serially, then with `-n 2`; with `--against`,
then REF's suite the same two ways (from a git worktree, removed afterwards, on this
checkout's Python environment). Every run is the default run (`pytest`, in-process,
SQLite) in the random order of one seed. Prints and writes reports/suite.md: each
run's tests, pytest's own time and the wall time (which also counts the start-up
before pytest's clock starts: all of it, for the `-n 2` controller), and in each round
the ratios of `-n 2` to serial. This machine's speed drifts by tens of percent within
minutes, so only runs of the same round are compared.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import write_report
from harness.live_server import ROOT

SUMMARY = re.compile(r"(\d+) passed.* in ([\d.]+)s")


@dataclass(frozen=True)
class Run:
    passed: int
    pytest_s: float
    wall_s: float


def run_suite(checkout: Path, seed: int, workers: int, extra: list[str]) -> Run:
    env = dict(os.environ)
    # Without bytecode caching each run would compile every module again (about 4 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / ".venv" / "pycache"))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [f"--randomly-seed={seed}", "-n", str(workers), *extra]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our interpreter, pytest
        command, cwd=checkout, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    found = SUMMARY.search(last)
    if done.returncode != 0 or not found:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-2000:])
        raise SystemExit(f"{checkout}: pytest -n {workers} failed (exit {done.returncode})")
    return Run(int(found[1]), float(found[2]), wall)


def git(*arguments: str) -> None:
    executable = shutil.which("git")
    assert executable, "git is needed for --against"
    subprocess.run([executable, *arguments], cwd=ROOT, check=True)  # noqa: S603 - git, our arguments


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument(
        "--against", metavar="REF", help="a commit whose suite runs in the same rounds"
    )
    parser.add_argument("pytest_args", nargs="*", help="given to every pytest run (after --)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        suites = {"this checkout": ROOT}
        if args.against:
            suites[args.against] = Path(folder) / "suite"
            git("worktree", "add", "-q", "--detach", str(suites[args.against]), args.against)
        try:
            rows = []
            for round_ in range(1, args.rounds + 1):
                for name, checkout in suites.items():
                    serial = run_suite(checkout, args.seed, 0, args.pytest_args)
                    parallel = run_suite(checkout, args.seed, 2, args.pytest_args)
                    rows.append(
                        f"| {round_} | {name} | {serial.passed} | {serial.pytest_s:.1f} "
                        f"| {serial.wall_s:.1f} | {parallel.pytest_s:.1f} | {parallel.wall_s:.1f} "
                        f"| {parallel.pytest_s / serial.pytest_s:.2f} "
                        f"| {parallel.wall_s / serial.wall_s:.2f} |"
                    )
                    print(rows[-1], flush=True)
        finally:
            if args.against:
                git("worktree", "remove", "--force", str(suites[args.against]))

    table = "\n".join(
        [
            "| round | suite | tests | serial: pytest s | wall s | `-n 2`: pytest s | wall s "
            "| `-n 2` / serial: pytest | wall |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    body = f"Seed {args.seed}; rounds: {args.rounds}.\n\n{table}"
    write_report("suite.md", "The default test run: serial and `-n 2`", body)
    print(f"\n{table}\n\nwritten to reports/suite.md")


if __name__ == "__main__":
    main()
