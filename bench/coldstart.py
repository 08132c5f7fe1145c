"""Cold start: the import time of every Lambda handler against a bare ``import boto3``, in the same run.

Each function of ``template.yaml`` (``AWS::Serverless::Function``) is imported the way Lambda's
init phase imports it: ``import app`` in a fresh interpreter started in the function's code
directory, with the environment the template gives it (the Globals variables and its own,
``Ref`` to a parameter resolved to the parameter's default, to a resource to a made-up name or
ARN), the variables Lambda itself sets, ``POWERTOOLS_TRACE_DISABLED=true`` and fake
credentials. An audit hook refuses every socket connection and DNS lookup, so importing a
handler must not call AWS or anything else; a handler that tries fails the bench.

``python -X importtime`` times every import; the figure is the cumulative time of ``app``
(everything its import pulls in, plus its module-level code: settings, clients), started in the
function's code directory with the layer (``layers/common``) next on ``sys.path``, as on Lambda.
The baseline is ``import boto3`` in the same kind of interpreter. Each is measured ``REPEATS``
times, interleaved; the headline is the fastest run of each (other processes on the machine
only ever add time), the median is given beside it, and so is the CPU time of the import. Also
per handler: how many modules it loads, and where the time goes (each module's own time, summed
by package). ``--against DIR`` measures the handlers of another tree as well (a copy of this one
with a change undone, or a ``git archive`` of an earlier commit), interleaved with these, and
names the modules they no longer load (results then in ``results/coldstart_against.json``).

The first invocation too, so that work moved out of the import (a client, a model, a module built
or loaded on first use) shows where it went: ``first_call.py`` imports the handler in a fresh
interpreter (the same environment, no ``-X importtime``) and calls it twice on a sample event of
``events/``, every AWS and Aiuta request answered at once in the process. Per handler: the init's
and the first call's CPU time (best of ``FIRST_REPEATS``), the first call's cold extra (its CPU
time minus the second call's), and **init + first call**, the figure that must not grow when the
import shrinks; how the call ended and the requests it made show that both trees went as far.

Last line: ``coldstart: worst_handler_ms=<n> boto3_ms=<n> worst_ratio=<x>``. Run:
``.venv/bin/python bench/coldstart.py``. The layer's packages are the project's ``.venv``
(Python of this machine; Lambda runs 3.13 on arm64, so absolute figures differ, ratios less so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results") / "coldstart.json"
REPEATS = 15
FIRST_REPEATS = 5
FIRST_CALL = Path(__file__).with_name("first_call.py")
# The sample event each handler's first call gets (events/<name>.json): its most frequent kind.
EVENTS = {
    "catalogue": "catalogue",
    "check_status": "check_status",
    "finalize": "finalize",
    "ingest": "ingest_s3_put",
    "plan_capacity_wait": "plan_capacity_wait",
    "record_failure": "record_failure",
    "regenerate": "regenerate",
    "review": "review_publish",
    "submit": "submit",
}
REGION = "us-east-1"
ACCOUNT = "123456789012"
TOP_IMPORTS = 8

# What the runtime sets in every function's environment (besides the template's variables).
LAMBDA_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_ACCESS_KEY_ID": "ASIABENCHCOLDSTART00",
    "AWS_SECRET_ACCESS_KEY": "bench-cold-start-not-a-secret",
    "AWS_SESSION_TOKEN": "bench-cold-start-token",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

# Runs in the fresh interpreter before the import: no network at all while importing.
NO_NETWORK = (
    "import sys\n"
    "def _no_network(event, args):\n"
    "    if event in ('socket.connect', 'socket.getaddrinfo', 'socket.gethostbyname'):\n"
    "        raise RuntimeError(f'network use while importing: {event} {args!r}')\n"
    "sys.addaudithook(_no_network)\n"
)
# The import's CPU time as well (user + system): less sensitive than wall time to other processes
# wanting the same cores, which on a shared machine can double the wall time of an import.
CPU_BEFORE = (
    "import resource\n_cpu, _known = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), set(sys.modules)\n"
)
CPU_AFTER = (
    "print((sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - _cpu) * 1000)\n"
    "print(' '.join(name for name in sys.modules if name not in _known))\n"  # in the order loaded
)
# Run before the handler's import to list the SDK objects it builds at import (top-level calls only:
# a resource builds its own client).
SDK_PROBE = (
    "import json, boto3.session\n"
    "_built, _depth = [], [0]\n"
    "def _recording(kind):\n"
    "    original = getattr(boto3.session.Session, kind)\n"
    "    def build(self, service_name, *args, **kwargs):\n"
    "        if _depth[0] == 0:\n"
    "            _built.append([kind, service_name])\n"
    "        _depth[0] += 1\n"
    "        try:\n"
    "            return original(self, service_name, *args, **kwargs)\n"
    "        finally:\n"
    "            _depth[0] -= 1\n"
    "    setattr(boto3.session.Session, kind, build)\n"
    "_recording('client'); _recording('resource')\n"
    "import app\n"
    "print(json.dumps(_built))\n"
)
# The modules that are the team's own code: everything else a handler loads is a dependency's
# (the standard library's included), and belongs to the floor.
OWN_PACKAGES = ("studio_core", "app")


def template_functions() -> dict[str, dict[str, Any]]:
    """Every function of the template: its code directory and environment."""
    from studio_local.cfn_yaml import load_template

    template = load_template(ROOT / "template.yaml")
    parameters = template.get("Parameters", {})
    resources = template["Resources"]
    common = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})

    def resolve(name: str, value: Any) -> str:
        if isinstance(value, (str, int, float)):
            return str(value)
        if "Fn::If" in value:  # the first branch: the conditions hold with the parameters' defaults
            return resolve(name, value["Fn::If"][1])
        if "Ref" in value and value["Ref"] in parameters:
            return str(parameters[value["Ref"]].get("Default", ""))
        if "Ref" in value and value["Ref"] in resources:
            return made_up(value["Ref"], resources[value["Ref"]]["Type"])
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in resources:
            return f"bench-{value['Fn::GetAtt'][0]}"
        raise SystemExit(f"coldstart: cannot give {name} a value for {value!r}; teach resolve() about it")

    functions = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        variables = {**common, **properties.get("Environment", {}).get("Variables", {})}
        code = ROOT / properties["CodeUri"]
        env = {name: resolve(name, value) for name, value in variables.items()}
        env.update(
            LAMBDA_ENV,
            AWS_LAMBDA_FUNCTION_NAME=f"studio-{logical_id}",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(properties.get("MemorySize", 512)),
            LAMBDA_TASK_ROOT=str(code),
            _HANDLER=properties["Handler"],
        )
        functions[code.name] = {"logical_id": logical_id, "code": code, "env": env}
    return functions


def made_up(logical_id: str, kind: str) -> str:
    if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bench-{logical_id}"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/bench-{logical_id}"
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:bench-{logical_id}-AbCdEf"
    return f"bench-{logical_id.lower()}"


def python_in(path: list[Path], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a fresh interpreter started in ``path[0]`` with ``path`` first on
    ``sys.path`` (the function's code, then the layer, as on Lambda) and ``env`` as the only AWS and
    Powertools variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    clean.pop("PYTHONPATH", None)
    # Bytecode is written by the first, untimed import and read by the timed ones, as the deployed
    # layer ships it (layers/common/Makefile); ``env`` may still forbid it (layer_bytecode.py).
    clean.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=path[0],
        env={**clean, **env, "PYTHONPATH": os.pathsep.join(str(p) for p in path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def import_once(module: str, path: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """``import module`` in a fresh interpreter (``python_in``): its cumulative import time, CPU
    time, biggest imports and the modules it loaded, in order."""
    cwd = path[0]
    code = f"{NO_NETWORK}{CPU_BEFORE}import {module}\n{CPU_AFTER}"
    done = python_in(path, env, "-X", "importtime", "-c", code)
    if done.returncode != 0:
        raise SystemExit(f"coldstart: importing {module} in {cwd} failed:\n{done.stderr[-2500:]}")
    # Lines are "import time: <self us> | <cumulative us> | <2 spaces per level><name>", each module
    # after the imports it made: the lines since the previous level-0 line are the module's tree.
    total, tree = None, []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2:
            continue
        own, cumulative, label = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        tree.append((label.strip(), int(own.split(":")[1]) / 1000))
        if len(label) - len(label.lstrip(" ")) == 1:  # level 0
            if label.strip() == module:
                total = int(cumulative) / 1000
                break
            tree = []
    groups: dict[str, float] = {}
    for name, own_ms in tree:
        key = "(its own module code)" if name == module else package_group(name)
        groups[key] = groups.get(key, 0.0) + own_ms
    if total is None:
        raise SystemExit(f"coldstart: no import time for {module} in:\n{done.stderr[-2500:]}")
    cpu_line, modules_line = done.stdout.strip().splitlines()[-2:]
    return {"ms": total, "cpu_ms": float(cpu_line), "groups": groups, "modules": modules_line.split()}


def sdk_objects_built(path: list[Path], env: dict[str, str]) -> list[list[str]]:
    """The SDK clients and resources the handler in ``path[0]`` builds while it is imported, in order,
    as ``[kind, service]`` (``kind`` is ``client`` or ``resource``)."""
    done = python_in(path, env, "-c", f"{NO_NETWORK}{SDK_PROBE}")
    if done.returncode != 0:
        raise SystemExit(f"coldstart: probing the SDK objects of {path[0]} failed:\n{done.stderr[-2500:]}")
    built: list[list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return built


def floor_source(modules: list[str], built: list[list[str]]) -> str:
    """A module that costs what a handler's import costs before a line of the team's code: it loads
    every module the handler loads that is not ours (the libraries and the standard library, in the
    handler's order) and builds the same SDK clients and resources."""
    theirs = [name for name in modules if name.split(".")[0] not in OWN_PACKAGES]
    lines = [
        "import importlib",
        f"for _name in {theirs!r}:",
        "    try:",
        "        importlib.import_module(_name)",
        "    except ImportError:",  # a name only a parent's import can register (six.moves and such)
        "        pass",
        "import boto3",
    ]
    lines += [f"boto3.{kind}({service!r})" for kind, service in built]
    return "\n".join(lines) + "\n"


def first_call_once(path: list[Path], env: dict[str, str], event: Path) -> dict[str, Any]:
    """Init and the first two calls of the handler in ``path[0]`` on ``event`` (``first_call.py``)."""
    done = python_in(path, env, "-c", FIRST_CALL.read_text(), str(event))
    lines = [line for line in done.stderr.splitlines() if line.startswith("FIRST_CALL ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"coldstart: the first call in {path[0]} failed:\n{done.stderr[-2500:]}")
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("FIRST_CALL "))
    return report


def first_call_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's best run; the cold extra is the first call's CPU over the warm second call's."""
    init_cpu = min(run["init_cpu_ms"] for run in runs)
    first_cpu = min(run["first"]["cpu_ms"] for run in runs)
    second_cpu = min(run["second"]["cpu_ms"] for run in runs)
    return {
        "init_ms": min(run["init_ms"] for run in runs),
        "init_cpu_ms": init_cpu,
        "first_ms": min(run["first"]["ms"] for run in runs),
        "first_cpu_ms": first_cpu,
        "second_cpu_ms": second_cpu,
        "first_cold_extra_cpu_ms": first_cpu - second_cpu,
        "init_plus_first_cpu_ms": min(run["init_cpu_ms"] + run["first"]["cpu_ms"] for run in runs),
        "ended": runs[-1]["first"]["ended"],
        "requests": runs[-1]["first"]["requests"],
        "runs_init_plus_first_cpu_ms": [run["init_cpu_ms"] + run["first"]["cpu_ms"] for run in runs],
    }


def copy_tree(source: Path, target: Path) -> Path:
    """The handlers and the layer of ``source`` copied to ``target`` (no bytecode caches)."""
    for part in ("functions", "layers/common"):
        shutil.copytree(source / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def subject(root: Path, name: str, env: dict[str, str]) -> tuple[str, list[Path], dict[str, str]]:
    code = root / "functions" / name
    return "app", [code, root / "layers" / "common"], {**env, "LAMBDA_TASK_ROOT": str(code)}


def package_group(name: str) -> str:
    """What an import is counted under: the package, or for ours and Powertools the part of it."""
    parts = name.split(".")
    if parts[0] == "studio_core" and len(parts) > 2 and parts[1] in ("aiuta", "aws", "domain", "steps"):
        return ".".join(parts[:3])
    if parts[0] in ("studio_core", "aws_lambda_powertools") and len(parts) > 1:
        return ".".join(parts[: 3 if parts[1] == "utilities" else 2])
    return parts[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--first-repeats", type=int, default=FIRST_REPEATS)
    parser.add_argument(
        "--against",
        type=Path,
        help="another source tree (with layers/common and functions/), e.g. a git archive of an "
        "earlier commit: its handlers are measured too, interleaved, as '<name>@before'",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    functions = template_functions()
    baseline_env = {**LAMBDA_ENV, "AWS_LAMBDA_FUNCTION_NAME": "bench-boto3"}
    subjects: dict[str, tuple[str, list[Path], dict[str, str]]] = {"boto3": ("boto3", [ROOT], baseline_env)}
    now, before = ROOT, None
    if args.against:
        # Both trees are measured from fresh copies side by side: where a tree lives changes import
        # times by itself (a copy of this tree in /tmp imported 10-25 ms slower than the original).
        scratch = Path(tempfile.mkdtemp(prefix="coldstart-"))
        now, before = copy_tree(ROOT, scratch / "now"), copy_tree(args.against, scratch / "before")
    for name, function in sorted(functions.items()):
        subjects[name] = subject(now, name, function["env"])
        if before and (before / "functions" / name / "app.py").is_file():
            subjects[f"{name}@before"] = subject(before, name, function["env"])
    # The first import of each compiles the bytecode caches: not timed, but it says what is loaded.
    loaded = {
        name: import_once(module, path, env)["modules"] for name, (module, path, env) in subjects.items()
    }
    # Each handler's floor (``floor_source``): its import with none of the team's code.
    floors, built = Path(tempfile.mkdtemp(prefix="coldstart-floor-")), {}
    for name in [name for name in subjects if name != "boto3" and "@" not in name]:
        _, path, env = subjects[name]
        built[name] = sdk_objects_built(path, env)
        (floors / f"floor_{name}.py").write_text(floor_source(loaded[name], built[name]))
        subjects[f"{name}@floor"] = (f"floor_{name}", [floors], env)
        loaded[f"{name}@floor"] = import_once(*subjects[f"{name}@floor"])["modules"]
    timings: dict[str, list[float]] = {name: [] for name in subjects}
    cpu: dict[str, list[float]] = {name: [] for name in subjects}
    groups: dict[str, dict[str, list[float]]] = {name: {} for name in subjects}
    for repeat in range(args.repeats):
        # Every other round runs in reverse order, so no subject always follows the same one.
        for name, (module, path, env) in list(subjects.items())[:: 1 if repeat % 2 == 0 else -1]:
            measured = import_once(module, path, env)
            timings[name].append(measured["ms"])
            cpu[name].append(measured["cpu_ms"])
            for group, ms in measured["groups"].items():
                groups[name].setdefault(group, []).append(ms)

    first_runs: dict[str, list[dict[str, Any]]] = {
        name: [] for name in subjects if name != "boto3" and not name.endswith("@floor")
    }
    for repeat in range(args.first_repeats):
        for name in list(first_runs)[:: 1 if repeat % 2 == 0 else -1]:
            _, path, env = subjects[name]
            event = ROOT / "events" / f"{EVENTS[name.split('@')[0]]}.json"
            first_runs[name].append(first_call_once(path, env, event))

    # The headline is each import's fastest run, the one least disturbed by whatever else the
    # machine was doing (other processes only ever add time); the medians are reported beside it.
    boto3_ms, boto3_cpu_ms = min(timings["boto3"]), min(cpu["boto3"])
    handlers = {}
    for name in subjects:
        if name == "boto3" or name.endswith("@floor"):
            continue
        # A group missing from a run (imported elsewhere first) counts 0 there.
        top = sorted(
            (
                (group, statistics.median(values + [0.0] * (args.repeats - len(values))))
                for group, values in groups[name].items()
            ),
            key=lambda item: -item[1],
        )[:TOP_IMPORTS]
        handlers[name] = {
            "logical_id": functions[name.split("@")[0]]["logical_id"],
            "ms": min(timings[name]),
            "median_ms": statistics.median(timings[name]),
            "ratio_vs_boto3": min(timings[name]) / boto3_ms,
            "cpu_ms": min(cpu[name]),
            "cpu_ratio_vs_boto3": min(cpu[name]) / boto3_cpu_ms,
            "runs_ms": timings[name],
            "runs_cpu_ms": cpu[name],
            "where_ms": dict(top),
            "modules_loaded": len(loaded[name]),
            "first_call": first_call_figures(first_runs[name]),
        }
        if name in built:
            floor = f"{name}@floor"
            handlers[name]["floor"] = {
                "ms": min(timings[floor]),
                "median_ms": statistics.median(timings[floor]),
                "ratio_vs_boto3": min(timings[floor]) / boto3_ms,
                "cpu_ms": min(cpu[floor]),
                "runs_ms": timings[floor],
                "modules_loaded": len(loaded[floor]),
                "sdk_objects_built_at_import": built[name],
            }
            handlers[name]["own_code_ms"] = min(timings[name]) - min(timings[floor])
    for name in [n for n in handlers if "@" in n]:
        now, before = set(loaded[name.split("@")[0]]), set(loaded[name])
        handlers[name.split("@")[0]]["modules_no_longer_loaded"] = sorted(before - now)
        handlers[name.split("@")[0]]["modules_newly_loaded"] = sorted(now - before)
    worst = max((name for name in handlers if "@" not in name), key=lambda name: handlers[name]["ms"])
    report = {
        "python": sys.version.split()[0],
        "against": str(args.against) if args.against else None,
        "repeats": args.repeats,
        "first_repeats": args.first_repeats,
        "load_average_1m_at_end": os.getloadavg()[0],
        "boto3_ms": boto3_ms,
        "boto3_median_ms": statistics.median(timings["boto3"]),
        "boto3_cpu_ms": boto3_cpu_ms,
        "boto3_runs_ms": timings["boto3"],
        "boto3_modules_loaded": len(loaded["boto3"]),
        "handlers": handlers,
        "worst_handler": worst,
        "bench_wall_seconds": time.monotonic() - started,
    }
    results = RESULTS.with_name("coldstart_against.json") if args.against else RESULTS
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"| handler | import ms (best of {args.repeats}) | median | x boto3 | CPU ms | x boto3 | modules "
        "| where the time goes (own ms by package, median) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    boto3_median = report["boto3_median_ms"]
    print(
        f"| `import boto3` alone | {boto3_ms:.0f} | {boto3_median:.0f} | 1.00 | {boto3_cpu_ms:.0f} "
        f"| 1.00 | {len(loaded['boto3'])} | |"
    )
    order = sorted(handlers, key=lambda name: (-handlers[name.split("@")[0]]["ms"], name))
    for name in order:
        figures = handlers[name]
        top = ", ".join(f"{group} {ms:.0f}" for group, ms in list(figures["where_ms"].items())[:6])
        print(
            f"| {name} | {figures['ms']:.0f} | {figures['median_ms']:.0f} | {figures['ratio_vs_boto3']:.2f} "
            f"| {figures['cpu_ms']:.0f} | {figures['cpu_ratio_vs_boto3']:.2f} | {figures['modules_loaded']} "
            f"| {top} |"
        )
    print(
        f"\n| handler | init CPU ms | first call CPU ms | its cold extra | init + first call CPU ms "
        f"(best of {args.first_repeats}) | the first call | its requests |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in order:
        first = handlers[name]["first_call"]
        asked = ", ".join(sorted({request.split()[0] for request in first["requests"]})) or "none"
        print(
            f"| {name} | {first['init_cpu_ms']:.0f} | {first['first_cpu_ms']:.0f} "
            f"| {first['first_cold_extra_cpu_ms']:.0f} | {first['init_plus_first_cpu_ms']:.0f} "
            f"| {first['ended']} | {len(first['requests'])} ({asked}) |"
        )
    for name, figures in sorted(handlers.items()):
        gone = figures.get("modules_no_longer_loaded", [])
        if gone:
            packages = sorted({m.split(".")[0] for m in gone}, key=str.lower)
            print(f"{name}: no longer loads {len(gone)} modules (of {', '.join(packages)})")
    print(
        "\n| handler | import ms | x boto3 | its floor: everything but our code, ms | x boto3 "
        "| our code, ms | SDK objects built at import |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in [name for name in order if name in built]:
        figures, floor = handlers[name], handlers[name]["floor"]
        objects = ", ".join(f"{service} {kind}" for kind, service in floor["sdk_objects_built_at_import"])
        print(
            f"| {name} | {figures['ms']:.0f} | {figures['ratio_vs_boto3']:.2f} | {floor['ms']:.0f} "
            f"| {floor['ratio_vs_boto3']:.2f} | {figures['own_code_ms']:.0f} | {objects or 'none'} |"
        )
    floor_ratios = [handlers[name]["floor"]["ratio_vs_boto3"] for name in built]
    print(
        f"coldstart: worst_handler_ms={handlers[worst]['ms']:.0f} boto3_ms={boto3_ms:.0f} "
        f"worst_ratio={handlers[worst]['ratio_vs_boto3']:.2f} worst_handler={worst} "
        f"floor_ratio_min={min(floor_ratios):.2f} floor_ratio_max={max(floor_ratios):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
