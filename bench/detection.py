"""The fault matrix of issue 21 in one command: a real Paperclip server, every variant of
``tests/detection/scenarios.py`` beside the healthy control company, agentwatch, a real Prometheus
with the shipped rules (``for`` divided by 60), a real Alertmanager with the shipped routing and the
incident webhook receiver. Prints the table and rewrites it in ``docs/detection.md``.

    python bench/detection.py                 # the whole matrix (some 10 minutes on 2 cores)
    python bench/detection.py --ci            # the CI subset only
    python bench/detection.py --variant hung-first-run --variant deadlock-blocker-deleted --no-doc

Needs the cached real server (``python tests/harness/paperclip.py install``) and Prometheus and
Alertmanager on PATH (``apt-get install prometheus prometheus-alertmanager``). Every server it
starts binds 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from detection import report  # noqa: E402
from detection.driver import Matrix  # noqa: E402
from detection.scenarios import ci_subset, select  # noqa: E402
from harness.paperclip import PaperclipServer, ensure_installed  # noqa: E402


def tree() -> str:
    """The commit of the working tree, ``+changes`` when it differs from it (what the matrix ran)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if dirty else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", action="append", help="run only these variants (repeatable)")
    p.add_argument("--ci", action="store_true", help="run the CI subset")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "detection.md", help="the document whose table is rewritten")
    p.add_argument("--no-doc", action="store_true", help="print only; leave the document alone")
    p.add_argument("--workdir", type=Path, help="where the stack's files and results.json go (default: a new temporary directory)")
    p.add_argument("--paperclip-url", help="use this running Paperclip instead of starting one")
    args = p.parse_args()
    variants = ci_subset() if args.ci else select(args.variant)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agentwatch-detection-"))
    workdir.mkdir(parents=True, exist_ok=True)
    root = ensure_installed()
    started = time.monotonic()
    server = None
    try:
        if args.paperclip_url:
            url = args.paperclip_url
        else:
            server = PaperclipServer(root)
            server.start()
            url = server.url
            print(f"paperclip up in {time.monotonic() - started:.0f} s at {url}", file=sys.stderr)
        matrix = Matrix(url, root, variants, workdir, log=lambda line: print(line, file=sys.stderr, flush=True))
        results = matrix.run()
    finally:
        if server is not None:
            server.stop()
    total = time.monotonic() - started
    results.tree = tree()
    print(report.summary(results))
    print()
    print(report.table(results))
    extra = report.details(results)
    if extra:
        print()
        print(extra)
    print(f"\nwall time {total:.0f} s in all (Paperclip start included); results in {workdir / 'results.json'}")
    if not args.no_doc and not args.variant and not args.ci:
        report.rewrite_doc(args.doc, results)
        print(f"table rewritten in {args.doc}")
    elif not args.no_doc:
        print("(a partial run: the document is left alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
