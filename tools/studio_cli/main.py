"""``studio``: the command line of Studio Pipeline.

Each subcommand lives in its own small function; the ones that talk to AWS read the same
environment as boto3 (``AWS_ENDPOINT_URL`` and friends, as written by ``studio local up --env-file``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from studio_cli.jobs_view import MissingSettingError

Command = Callable[[argparse.Namespace], int]


def _sim(args: argparse.Namespace) -> int:
    from studio_sim.__main__ import main as sim_main

    return sim_main(args.sim_args)


def _seed_flows(args: argparse.Namespace) -> int:
    from studio_cli.seed_flows import run_seed_flows

    saved = run_seed_flows(Path(args.output))
    print(f"Done: {sum(saved.values())} images in {args.output}")
    return 0


def _stack() -> Any:
    from studio_cli.jobs_view import Stack

    return Stack.from_env()


def _submit(args: argparse.Namespace) -> int:
    from studio_cli.jobs_view import submit_folder

    stack = _stack()
    for folder in args.paths:
        for key in submit_folder(stack, Path(folder), args.product_id):
            print(f"uploaded s3://{stack.bucket}/{key}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from studio_cli.jobs_view import job_rows, render_table

    jobs = _stack().jobs()
    if args.job:
        record = jobs.get(args.job)
        if record is None:
            print(f"no job {args.job!r}", file=sys.stderr)
            return 1
        print(record.model_dump_json(indent=2, exclude_none=True))
        return 0
    records = jobs.for_product(args.product) if args.product else jobs.all_jobs()
    print(render_table(job_rows(records)))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from studio_cli.jobs_view import watch

    watch(_stack(), expect=args.expect, timeout_seconds=args.timeout)
    return 0


def _regenerate(args: argparse.Namespace) -> int:
    from studio_cli.jobs_view import request_regeneration

    stack = _stack()
    key = request_regeneration(stack, args.job, args.types, args.generations)
    print(f"regeneration requested: s3://{stack.bucket}/{key}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    import os

    from studio_core.aws.executions import Executions
    from studio_core.domain.errors import InvalidJob
    from studio_core.steps.resume import resume_job

    stack = _stack()
    arn = os.environ.get("STUDIO_STATE_MACHINE_ARN")
    if not arn:
        raise MissingSettingError(
            "STUDIO_STATE_MACHINE_ARN not set: source the file from `studio local up --env-file PATH`, "
            "or export the stack's StateMachineArn output"
        )
    try:
        name = resume_job(args.job, jobs=stack.jobs(), executions=Executions(arn))
    except InvalidJob as exc:
        print(f"studio resume: {exc}", file=sys.stderr)
        return 1
    print(f"resuming {args.job}: execution {name} checks its operations again and copies what finished")
    return 0


def _results(args: argparse.Namespace) -> int:
    from studio_cli.jobs_view import download_results

    stack = _stack()
    if not args.download:
        record = stack.jobs().get(args.job)
        print(record.model_dump_json(indent=2, exclude_none=True) if record else "{}")
        return 0
    for path in download_results(stack, args.job, Path(args.download)):
        print(path)
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

    local = commands.add_parser("local", help="the whole product on this machine")
    local_commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    up = local_commands.add_parser(
        "up", help="moto server + Studio simulator + template.yaml deployed, in the foreground"
    )
    up.add_argument("--env-file", metavar="PATH", help="write `export NAME=value` lines here once ready")
    up.add_argument("--port", type=int, default=0, help="moto server port (default: any free port)")
    up.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any free port)")
    up.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, e.g. PollMinWaitSeconds=1 (repeatable)",
    )
    up.add_argument("--operation-seconds", type=float, default=4.0, help="how long simulated operations take")
    up.set_defaults(run=_local_up)

    submit = commands.add_parser(
        "submit", help="upload product folders (or a .csv/.jsonl catalogue) to the inbox"
    )
    submit.add_argument(
        "paths", nargs="+", metavar="DIR", help="a folder of photos (+ product.json), or a catalogue"
    )
    submit.add_argument("--product-id", help="the product id (default: the folder name)")
    submit.set_defaults(run=_submit)

    status = commands.add_parser("status", help="the jobs and their state (one job in full with JOB)")
    status.add_argument("job", nargs="?", help="a job id")
    status.add_argument("--product", help="only this product's jobs")
    status.set_defaults(run=_status)

    watch = commands.add_parser("watch", help="follow the jobs live until they all end")
    watch.add_argument("--expect", type=int, help="wait until at least this many jobs exist")
    watch.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    watch.set_defaults(run=_watch)

    regenerate = commands.add_parser("regenerate", help="regenerate on-figure image types of a finished job")
    regenerate.add_argument("job", help="the job id")
    regenerate.add_argument(
        "--type",
        dest="types",
        action="append",
        required=True,
        metavar="VIEWPOINT/POSE",
        help="e.g. back/walking",
    )
    regenerate.add_argument("--generations", type=int, help="images per type (1-4)")
    regenerate.set_defaults(run=_regenerate)

    resume = commands.add_parser(
        "resume", help="check a TIMED_OUT job's operations again and copy what finished since"
    )
    resume.add_argument("job", help="the job id")
    resume.set_defaults(run=_resume)

    results = commands.add_parser("results", help="a job's result, or its images with --download DIR")
    results.add_argument("job", help="the job id")
    results.add_argument("--download", metavar="DIR", help="save the job's images under DIR/<job>/")
    results.set_defaults(run=_results)

    demo = commands.add_parser("demo", help="the whole product on this machine, with sample products")
    demo.add_argument("--output", default="demo-output", help="where to save the images")
    demo.set_defaults(run=_demo)
    return parser


def _local_up(args: argparse.Namespace) -> int:
    from studio_local.stack import LocalStudio
    from studio_sim.settings import SimSettings

    parameters = dict(item.split("=", 1) for item in args.parameter)
    sim = SimSettings(operation_seconds=args.operation_seconds)
    studio = LocalStudio(
        parameter_overrides=parameters, sim_settings=sim, moto_port=args.port, sim_port=args.sim_port
    )
    print("starting the local stack (moto server, Studio simulator, template.yaml)...", flush=True)
    studio.start()

    def ready() -> None:
        if args.env_file:
            studio.write_env_file(args.env_file)
        print(studio.summary())
        if args.env_file:
            print(f"environment written to {args.env_file}: `. {args.env_file}`")
        print("ready; Ctrl-C stops everything", flush=True)

    studio.serve_forever(on_serving=ready)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from studio_cli.demo import run_local_demo

    return run_local_demo(Path(args.output))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except (MissingSettingError, LookupError, FileNotFoundError, ValueError) as exc:
        print(f"studio {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
