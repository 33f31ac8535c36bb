"""Command-line interface: one subcommand per pipeline stage; the Makefile calls these.

Imports of the stage modules are deferred to the subcommand that needs them, so
``python -m analysis --help`` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.config import MASTER_SEED, SYNTHETIC, RunPaths


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per stage."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Replication pipeline for Wang et al. (2022) BMJ Open 12:e060551.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=SYNTHETIC.root,
        help="run root holding data/ and outputs/ (default: the repository)",
    )
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    gen = stages.add_parser("generate", help="write the synthetic raw survey (.dta)")
    gen.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")
    gen.add_argument("--out", type=Path, help="output .dta (default data/raw/...)")

    clean = stages.add_parser("clean", help="raw survey -> analytic sample + flow")
    clean.add_argument("--raw", type=Path, help="raw survey (.dta, .sav or .csv)")
    clean.add_argument("--codebook", type=Path, help="codebook directory")

    desc = stages.add_parser("describe", help="Tables 1-2 from the analytic sample")
    desc.add_argument("--real", action="store_true", help="outputs from real data")

    est = stages.add_parser("estimate", help="fit the two-part models of Tables 3-4")
    est.add_argument(
        "--vce", default="oim", choices=("oim", "robust", "cluster"), help="SE type"
    )
    est.add_argument(
        "--semantics",
        default="columnwise",
        choices=("columnwise", "factor"),
        help="derivative effects on hand-built dummies (the paper) or i. contrasts",
    )

    ex = stages.add_parser("exhibits", help="Tables 3-4 and Figures 1-2")
    ex.add_argument("--real", action="store_true", help="outputs from real data")

    rep = stages.add_parser("report", help="published-versus-replicated report")
    rep.add_argument("--real", action="store_true", help="outputs from real data")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the stage named on the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    paths = RunPaths(args.root)
    return STAGES[args.stage](args, paths) or 0


def run_generate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``generate``: synthetic raw survey."""
    from analysis import synth

    synth.main(seed=args.seed, out_path=args.out or paths.raw_survey)
    return 0


def run_clean(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``clean``: validate and clean the raw survey."""
    from analysis import clean
    from analysis.codebook import Codebook

    codebook = Codebook(args.codebook) if args.codebook else Codebook()
    clean.main(
        raw_path=args.raw or paths.raw_survey,
        analytic_path=paths.analytic,
        flow_path=paths.tables_dir / "sample_flow.csv",
        codebook=codebook,
    )
    return 0


def run_describe(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``describe``: Tables 1 and 2."""
    from analysis import descriptives

    descriptives.main(paths.analytic, paths.tables_dir, synthetic=not args.real)
    return 0


def run_estimate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``estimate``: the two-part models of Tables 3-4."""
    from analysis import estimates

    cluster = "city" if args.vce == "cluster" else None
    estimates.main(
        paths.analytic,
        paths.estimates_dir,
        vce=args.vce,
        cluster=cluster,
        semantics=args.semantics,
    )
    return 0


def run_exhibits(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``exhibits``: Tables 3-4 (CSV) and Figures 1-2 with the forest plot."""
    from analysis import figures, tables

    cells = paths.estimates_dir / "paper_cells.csv"
    tables.main(cells, paths.tables_dir)
    figures.main(paths.analytic, cells, paths.figures_dir, synthetic=not args.real)
    return 0


def run_report(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``report``: the published-versus-replicated report."""
    from analysis import report

    report.main(paths, synthetic=not args.real)
    return 0


STAGES = {
    "generate": run_generate,
    "clean": run_clean,
    "describe": run_describe,
    "estimate": run_estimate,
    "exhibits": run_exhibits,
    "report": run_report,
}
