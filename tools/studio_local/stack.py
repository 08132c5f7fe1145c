"""``LocalStudio``: the whole product on one machine (moto + the Studio simulator + the template deployed).

    with LocalStudio(parameter_overrides={"PollMinWaitSeconds": 1}) as studio:
        studio.client("s3").put_object(Bucket=studio.bucket, Key="inbox/sku-1/front.jpg", Body=...)
        print(studio.summary())

``start()`` runs moto's server in this process, the simulator in a thread, deploys
``template.yaml`` with ``AiutaApiUrl`` pointing at the simulator (the caller's overrides on top),
completes what moto leaves out (``gaps``), stores the simulator's key in the template's secret,
runs the Lambda handlers in execution environments of their own (one process each, bounded by
the template's concurrency settings) and polls the ingest queue. One ``LocalStudio`` runs per
process at a time: moto's backends and its Lambda hook are process-wide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from botocore.client import BaseClient

from studio_local import moto_map_run
from studio_local.deploy import DeployedStack, DeploymentError, deploy_template
from studio_local.env_file import render_env_file
from studio_local.functions import ExternalLayer, local_functions
from studio_local.gaps import (
    Gap,
    apply_bucket_notifications,
    apply_bucket_versioning,
    distributed_map_gaps,
    put_api_key,
    recreate_state_machines,
    template_secrets,
)
from studio_local.lambda_runtime import DEFAULT_UNRESERVED_ENVIRONMENTS, LocalLambdas
from studio_local.moto_internals import (
    map_lambda_api_errors_like_aws,
    pass_task_failure_causes,
    shape_step_functions_integration_like_aws,
)
from studio_local.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, MotoServer, start_moto_server
from studio_local.resource_types import Handling
from studio_local.sqs_poller import SqsPoller, take_over_event_sources
from studio_sim.server import RunningSimulator, run_in_thread
from studio_sim.settings import SimSettings

# moto's backends, its Lambda hook and MOTO_PORT are process-wide: one running stack per process.
_running_lock = threading.Lock()
_running: LocalStudio | None = None

DEFAULT_STACK_NAME = "studio-local"
DEFAULT_REGION = "us-east-1"
# The template's outputs the local stack reads (the CLI reads the same ones from a real stack).
OUTPUT_BUCKET = "StudioBucketName"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_JOBS_TABLE = "JobsTableName"
OUTPUT_QUEUE = "IngestQueueUrl"
OUTPUT_CATALOGUES = "CatalogueStateMachineArn"
SIMULATOR_URL_PARAMETER = "AiutaApiUrl"
# The simulator listens on 127.0.0.1: its API and its images' links are loopback URLs, which a
# stack on AWS refuses.
LOOPBACK_PARAMETER = "AllowLoopbackUrls"


def default_template_path() -> Path:
    """``template.yaml`` of the repository this package lives in, else of the current directory."""
    repository = Path(__file__).resolve().parents[2] / "template.yaml"
    return repository if repository.is_file() else Path.cwd() / "template.yaml"


class LocalStudio:
    """moto server + Studio simulator + the SAM template deployed, in this process.

    ``parameter_overrides`` are template parameters (e.g. short poll waits for a demo);
    ``sim_settings`` configure the simulator; ``function_environment`` adds variables to every
    function (e.g. ``{"POWERTOOLS_LOG_LEVEL": "WARNING"}`` to quiet the demo's output);
    ``batching_window_seconds`` replaces the event sources' ``MaximumBatchingWindowInSeconds``
    (tests use 0 to skip the wait; None keeps the template's); ``unreserved_environments`` is
    how many execution environments a function without reserved concurrency may have at once
    (AWS gives it the account's unreserved pool; here a call beyond waits for a free one).
    """

    def __init__(
        self,
        template_path: Path | str | None = None,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        parameter_overrides: Mapping[str, Any] | None = None,
        sim_settings: SimSettings | None = None,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        sim_port: int = 0,
        function_environment: Mapping[str, str] | None = None,
        batching_window_seconds: float | None = None,
        unreserved_environments: int = DEFAULT_UNRESERVED_ENVIRONMENTS,
    ) -> None:
        self.template_path = Path(template_path) if template_path else default_template_path()
        self.stack_name = stack_name
        self.region = region
        self.parameter_overrides = dict(parameter_overrides or {})
        self.sim_settings = sim_settings or SimSettings()
        self.host = host
        self.moto_port = moto_port
        self.sim_port = sim_port
        self.function_environment = dict(function_environment or {})
        self.batching_window_seconds = batching_window_seconds
        self.unreserved_environments = unreserved_environments
        self.gaps: list[Gap] = []
        self.external_layers: list[ExternalLayer] = []
        self.timings: dict[str, float] = {}
        self.pollers: list[SqsPoller] = []
        self._moto: MotoServer | None = None
        self._simulator: RunningSimulator | None = None
        self._stack: DeployedStack | None = None
        self._lambdas: LocalLambdas | None = None
        self._state_machines: dict[str, str] = {}
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._ready = False

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> LocalStudio:
        """Start everything and return once the stack is deployed and the ingest queue is polled."""
        global _running
        if self._moto is not None or self._stop_requested.is_set():
            raise RuntimeError("a LocalStudio starts once: create a new one")
        if not self.template_path.is_file():
            raise FileNotFoundError(f"no SAM template at {self.template_path}")
        with _running_lock:
            if _running is not None:
                raise RuntimeError(f"{_running!r} already runs in this process: stop it first")
            _running = self
        started = time.monotonic()
        try:
            self._start(started)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        self._ready = True
        return self

    def _start(self, started: float) -> None:
        self._moto = start_moto_server(self.region, host=self.host, port=self.moto_port)
        self._simulator = run_in_thread(self.sim_settings, host=self.host, port=self.sim_port)
        self.timings["servers"] = time.monotonic() - started

        overrides = {
            SIMULATOR_URL_PARAMETER: self._simulator.base_url,
            LOOPBACK_PARAMETER: "true",
            **self.parameter_overrides,
        }
        self._stack = deploy_template(
            self.client, self.template_path, self.stack_name, self.region, overrides
        )
        self.timings.update({f"deploy.{k}": v for k, v in self._stack.timings.items()})

        mark = time.monotonic()
        self._lambdas = LocalLambdas(
            self._moto.endpoint_url,
            self.region,
            extra_environment=self.function_environment,
            unreserved_environments=self.unreserved_environments,
        )
        functions, self.external_layers = local_functions(self._stack, self.client("lambda"))
        for function in functions:
            self._lambdas.register(function)
        self._lambdas.install()
        map_lambda_api_errors_like_aws()
        shape_step_functions_integration_like_aws()
        pass_task_failure_causes()
        here = f"python{sys.version_info.major}.{sys.version_info.minor}"
        runtimes = sorted({f.runtime for f in functions})
        self.gaps.append(
            Gap(
                f"{len(functions)} Lambda functions",
                "handlers run in execution environments of their own (a process each, started cold, "
                "reused warm; moto needs Docker), with the environment moto stored; layers' "
                "directories on the import path"
                + (
                    f"; runtime {', '.join(runtimes)} is served by this {here} ({platform.machine()})"
                    if runtimes != [here]
                    else ""
                ),
            )
        )
        reserved = [f for f in functions if f.reserved_concurrency is not None]
        limits = ", ".join(f"{f.logical_id} {f.reserved_concurrency}" for f in reserved)
        enforced = (
            f"reserved concurrency enforced ({limits}), a call beyond it throttled with 429 "
            "TooManyRequestsException; "
            if limits
            else ""
        )
        self.gaps.append(
            Gap(
                "Lambda concurrency",
                enforced + f"functions without a reservation get up to {self.unreserved_environments} "
                "environments (a call beyond waits); a Lambda-ARN Task's throttle is named "
                "Lambda.TooManyRequestsException as on AWS (moto names it Exception)",
            )
        )
        sources = take_over_event_sources(self._stack, self.client("lambda"), self.client("sqs"))
        moto_map_run.install()  # before the definitions are created: moto parses them then
        self._state_machines, gaps = recreate_state_machines(self._stack, self.client("stepfunctions"))
        self.gaps.extend(gaps)
        self.gaps.extend(distributed_map_gaps(self._stack))
        self.gaps.extend(apply_bucket_versioning(self._stack, self.client("s3")))
        # Notifications last: from here on an upload reaches the queue, and moto's delivery is off.
        self.gaps.extend(apply_bucket_notifications(self._stack, self.client("s3")))
        for logical_id, arn in template_secrets(self._stack):
            put_api_key(self.client("secretsmanager"), arn, self._simulator.api_key)
            self.gaps.append(
                Gap(f"{logical_id}", "created with create_secret; holds the simulator's API key")
            )
        for source in sources:
            if self.batching_window_seconds is not None:
                source = dataclasses.replace(source, batching_window_seconds=self.batching_window_seconds)
            poller = SqsPoller(source, self.client("sqs"), self._lambdas.invoke, self.region)
            poller.start()
            self.pollers.append(poller)
            self.gaps.append(
                Gap(
                    f"{source.logical_id} (SQS -> Lambda)",
                    f"moto's delivery disabled; {source.concurrency} poller threads (MaximumConcurrency "
                    f"{source.maximum_concurrency or 'not set'}) deliver batches of up to "
                    f"{source.batch_size} (window {source.batching_window_seconds:g} s)"
                    + (" with ReportBatchItemFailures" if source.report_batch_item_failures else ""),
                )
            )
        self.timings["complete"] = time.monotonic() - mark

    def stop(self) -> None:
        """Stop pollers, running executions, the simulator and moto; returns when all are down.

        Safe to call twice and from several threads: a second caller waits for the first.
        """
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stop_requested.set()
            self._ready = False
            for poller in self.pollers:
                poller.stop()
            if self._moto is not None:
                with contextlib.suppress(Exception):
                    self._stop_executions()
            if self._lambdas is not None:
                self._lambdas.uninstall()
                self._lambdas.kill_all()  # an environment still mid-invocation outlives nothing
                map_lambda_api_errors_like_aws(enable=False)
            shape_step_functions_integration_like_aws(enable=False)
            pass_task_failure_causes(enable=False)
            moto_map_run.uninstall()
            if self._simulator is not None:
                self._simulator.stop()
            if self._moto is not None:
                with contextlib.suppress(Exception):
                    # moto's backends outlive its server in this process: leave nothing for the next stack.
                    self._moto.reset()
                self._moto.stop()
            self._stopped.set()
            self._release_process()

    def _release_process(self) -> None:
        global _running
        with _running_lock:
            if _running is self:
                _running = None

    def _stop_executions(self) -> None:
        stepfunctions = self.client("stepfunctions")
        for arn in self._state_machines.values():
            for page in stepfunctions.get_paginator("list_executions").paginate(
                stateMachineArn=arn, statusFilter="RUNNING"
            ):
                for execution in page["executions"]:
                    stepfunctions.stop_execution(
                        executionArn=execution["executionArn"], cause="local stack stopped"
                    )

    def request_stop(self) -> None:
        """Ask ``serve_forever`` to return (from any thread or a signal handler); it then stops."""
        self._stop_requested.set()

    def serve_forever(
        self,
        on_serving: Callable[[], None] | None = None,
        on_stopping: Callable[[], None] | None = None,
        on_forced_stop: Callable[[], None] | None = None,
    ) -> None:
        """Block until SIGINT / SIGTERM (or ``request_stop()``), then stop everything and return.

        ``on_serving`` runs once the signal handlers are in place: print the banner there, and a
        Ctrl-C right after it is already a clean stop. The first signal calls ``on_stopping`` at
        once and starts the clean stop. A second signal while it runs kills every execution
        environment's process group at once, then calls ``on_forced_stop`` (which may end the
        process: the servers are threads of this one); without it, ``SystemExit`` interrupts the
        clean stop.
        """
        previous: dict[int, Any] = {}
        signals: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals.append(signum)
            if len(signals) == 1:
                self._stop_requested.set()
                if on_stopping is not None:
                    on_stopping()
                return
            if self._lambdas is not None:
                self._lambdas.kill_all()
            if on_forced_stop is not None:
                on_forced_stop()
            raise SystemExit(128 + signum)

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            if on_serving is not None:
                on_serving()
            while not self._stop_requested.wait(0.5):
                pass
            if not signals and on_stopping is not None:
                on_stopping()  # asked by request_stop()
        finally:
            try:
                self.stop()
            finally:
                # Only now: a second signal during the clean stop is handled above, not by default.
                if threading.current_thread() is threading.main_thread():
                    for signum, handler in previous.items():
                        signal.signal(signum, handler)

    def __enter__(self) -> LocalStudio:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what callers use -----------------------------------------------------------------------

    def client(self, service: str, **config: Any) -> BaseClient:
        """A boto3 client bound to the local moto server."""
        return self.moto.client(service, **config)

    @property
    def moto(self) -> MotoServer:
        if self._moto is None:
            raise RuntimeError("the local stack is not started")
        return self._moto

    @property
    def stack(self) -> DeployedStack:
        if self._stack is None:
            raise RuntimeError("the local stack is not deployed")
        return self._stack

    @property
    def simulator(self) -> RunningSimulator:
        if self._simulator is None:
            raise RuntimeError("the local stack is not started")
        return self._simulator

    @property
    def lambdas(self) -> LocalLambdas:
        if self._lambdas is None:
            raise RuntimeError("the local stack is not started")
        return self._lambdas

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def endpoint_url(self) -> str:
        return self.moto.endpoint_url

    @property
    def simulator_url(self) -> str:
        """The simulated Aiuta Studio API base URL (what ``AiutaApiUrl`` is set to)."""
        return self.simulator.base_url

    @property
    def simulator_admin(self) -> Any:
        """The simulator's admin client (faults, clock, call counts)."""
        return self.simulator.admin

    def output(self, name: str) -> str:
        if name not in self.stack.outputs:
            raise DeploymentError(
                f"the template has no output {name}; it has {', '.join(sorted(self.stack.outputs))}"
            )
        return self.stack.outputs[name]

    @property
    def bucket(self) -> str:
        return self.output(OUTPUT_BUCKET)

    @property
    def jobs_table(self) -> str:
        return self.output(OUTPUT_JOBS_TABLE)

    @property
    def state_machine_arn(self) -> str:
        arn = self.output(OUTPUT_STATE_MACHINE)
        if arn not in self._state_machines.values():
            raise DeploymentError(
                f"output {OUTPUT_STATE_MACHINE} {arn} is not a state machine the stack re-created"
            )
        return arn

    @property
    def queue_url(self) -> str:
        """The ingest queue's URL on this machine (the output holds the AWS-style URL)."""
        return self.local_queue_url(self.output(OUTPUT_QUEUE))

    def local_queue_url(self, any_url_or_arn: str) -> str:
        name = any_url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    @property
    def queue_urls(self) -> dict[str, str]:
        """Every queue of the stack by logical id, as local URLs."""
        return {
            logical_id: self.local_queue_url(self.stack.physical_id(logical_id))
            for logical_id, _ in self.stack.of_type("AWS::SQS::Queue")
        }

    @property
    def dead_letter_queue_url(self) -> str | None:
        """The ingest queue's redrive target, if it has one."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
        )
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        return self.local_queue_url(json.loads(policy)["deadLetterTargetArn"]) if policy else None

    def invocation_counts(self) -> dict[str, int]:
        """Lambda invocations so far, by the template's logical id."""
        return self.lambdas.invocation_counts()

    def pending_work(self) -> dict[str, int]:
        """What is still moving: ingest queue messages (visible, in flight, delayed), running
        executions, and Lambda invocations running or waiting."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        stepfunctions = self.client("stepfunctions")
        running = sum(
            len(page["executions"])
            for arn in self._state_machines.values()
            for page in stepfunctions.get_paginator("list_executions").paginate(
                stateMachineArn=arn, statusFilter="RUNNING"
            )
        )
        return {
            "messages_visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "messages_in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "messages_delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            "executions_running": running,
            "invocations": self.lambdas.in_flight,
        }

    def wait_until_idle(self, timeout: float = 60.0, include_delayed: bool = True) -> None:
        """Return once nothing is moving (twice in a row, 0.2 s apart); ``TimeoutError`` naming
        what still moves otherwise. ``include_delayed=False`` ignores messages that are only
        waiting out their delay (an inbox settle check, for example)."""
        deadline = time.monotonic() + timeout
        quiet_rounds = 0
        while True:
            pending = self.pending_work()
            if not include_delayed:
                pending.pop("messages_delayed")
            quiet_rounds = quiet_rounds + 1 if not any(pending.values()) else 0
            if quiet_rounds >= 2:
                return
            if time.monotonic() > deadline:
                busy = ", ".join(f"{k}={v}" for k, v in pending.items() if v)
                raise TimeoutError(f"the local stack is still busy after {timeout:g} s: {busy}")
            time.sleep(0.2)

    def left_out(self) -> list[tuple[str, str, str]]:
        """``(logical_id, type, reason)`` of the template's resources not deployed locally."""
        return [(p.logical_id, p.type, p.note) for p in self.stack.planned(Handling.LEFT_OUT)]

    def environment(self) -> dict[str, str]:
        """What a shell (or the ``studio`` CLI) needs to talk to this stack with boto3 / the AWS CLI."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "STUDIO_BUCKET": self.bucket,
            "STUDIO_TABLE": self.jobs_table,
            "STUDIO_STATE_MACHINE_ARN": self.state_machine_arn,
            "STUDIO_QUEUE_URL": self.queue_url,
            "AIUTA_API_URL": self.simulator_url,
            **(
                {"STUDIO_CATALOGUE_STATE_MACHINE_ARN": self.stack.outputs[OUTPUT_CATALOGUES]}
                if OUTPUT_CATALOGUES in self.stack.outputs
                else {}
            ),
        }

    def write_env_file(self, path: Path | str) -> Path:
        """Write ``export NAME=value`` lines (shell-quoted) for ``environment()``; only once started."""
        if not self._ready:
            raise RuntimeError("the local stack is not ready: start() it first")
        target = Path(path)
        target.write_text(render_env_file(self.environment()), encoding="utf-8")
        return target

    def summary(self) -> str:
        """A human summary: endpoints, names, gaps closed, what is not enforced, the environment."""
        from studio_local.summary import render_summary

        return render_summary(self)

    def __repr__(self) -> str:
        state = "ready" if self._ready else "stopped" if self._stopped.is_set() else "not ready"
        return f"LocalStudio({self.template_path.name!r}, stack={self.stack_name!r}, {state})"
