"""``python -m bench`` (``make bench``): the whole bench suite, one table, JSON and Markdown.

Options: ``--quick`` for a smaller run (minutes, not ten), ``--only training,inference`` for
some sections, ``--out DIR`` for where ``latest.json`` / ``latest.md`` go (default
``bench/results``), ``--cache-dir`` for the ONNX graphs (exported there on first use).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.suite import SECTIONS, plan_for, render_text, run_suite, write_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases, fewer repeats")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "teachbox-bench-cache"))
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)} in --only; choose from {', '.join(SECTIONS)}")
    results = run_suite(plan_for(args.quick), args.cache_dir, only)
    print(render_text(results), end="")
    json_path, md_path = write_results(results, args.out)
    print(f"\nwritten: {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
