"""``studio``: the command line of Studio Pipeline.

Each subcommand lives in its own small function; the ones that talk to AWS read the same
environment as boto3 (``AWS_ENDPOINT_URL`` and friends, as written by ``studio local up --env-file``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def _sim(args: argparse.Namespace) -> int:
    from studio_sim.__main__ import main as sim_main

    return sim_main(args.sim_args)


def _seed_flows(args: argparse.Namespace) -> int:
    from studio_cli.seed_flows import run_seed_flows

    saved = run_seed_flows(Path(args.output))
    print(f"Done: {sum(saved.values())} images in {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description="Studio Pipeline: product photos in S3 -> studio visuals from the Aiuta Studio API.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sim = commands.add_parser("sim", help="run the Aiuta Studio API simulator (same flags as studio-sim)")
    sim.add_argument("sim_args", nargs=argparse.REMAINDER, help="flags passed to studio-sim")
    sim.set_defaults(run=_sim)

    seed = commands.add_parser(
        "seed-flows", help="run the three Studio workflow flows with the client against the simulator"
    )
    seed.add_argument("--output", default="demo-output/seed-flows", help="where to save the images")
    seed.set_defaults(run=_seed_flows)

    demo = commands.add_parser("demo", help="the whole product on this machine, with sample products")
    demo.add_argument("--output", default="demo-output", help="where to save the images")
    demo.set_defaults(run=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    args.output = str(Path(args.output) / "seed-flows")
    return _seed_flows(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
