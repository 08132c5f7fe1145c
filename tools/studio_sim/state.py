"""Everything the simulator remembers: images, operations, settings, the clock, call counts and stats.

One lock guards the dictionaries; slow work (downloads, rendering) happens outside it.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from studio_core.aiuta.answers import OperationStatus
from studio_sim.images import RenderSpec, render, render_preset_sample
from studio_sim.limits import RateLimiter, TooManyUnfinished, retry_after
from studio_sim.presets import PRESETS
from studio_sim.settings import Outcome, SimSettings
from studio_sim.stats import Stats
from studio_sim.timeline import Plan, SimClock, draw_duration, iso, outcome_token

ImageKind = Literal["uploaded", "inputs", "generated", "presets"]
OperationKind = Literal["on_figure", "flat_lay"]
ID_PREFIXES: dict[str, str] = {
    "uploaded": "user_image",
    "inputs": "input_image",
    "generated": "gen_image",
    "on_figure": "onfigure_op",
    "flat_lay": "flatlay_op",
}


def new_id(kind: str) -> str:
    return f"{ID_PREFIXES[kind]}-{uuid.uuid4()}"


@dataclass
class StoredImage:
    """An image the simulator serves under ``/files/<kind>/<id>.<extension>``."""

    id: str
    kind: ImageKind
    extension: str
    content_type: str
    expires_at: float | None
    data: bytes | None = None
    spec: RenderSpec | None = None
    deleted: bool = False

    @property
    def path(self) -> str:
        return f"/files/{self.kind}/{self.id}.{self.extension}"


@dataclass(frozen=True)
class Look:
    """The request fields an operation echoes and a regeneration reuses."""

    product: dict[str, Any]
    operation_priority: str
    background_settings: dict[str, Any]
    output_image_size: dict[str, int] | None
    output_image_paddings: dict[str, int] | None
    on_figure_model_preset_id: str | None = None
    on_figure_model_settings: dict[str, Any] | None = None


@dataclass
class SimOperation:
    id: str
    kind: OperationKind
    created_at: float
    plan: Plan
    look: Look
    image_types: list[dict[str, str]]
    number_of_generations: int
    input_ids: list[str]
    results: list[list[str]] | None = None
    regenerated_from: str | None = None
    owner: str = ""  # key_id() of the API key that created it
    null_polls: int = 0  # reads answered null before the operation shows (null_polls_after_create)
    polls: int = 0  # reads so far, null ones included


@dataclass
class CallLog:
    counts: Counter[str] = field(default_factory=Counter)
    operation_ids: list[str] = field(default_factory=list)


class SimState:
    def __init__(self, settings: SimSettings) -> None:
        self.lock = threading.RLock()
        self._startup = settings
        self.settings = settings
        self.clock = SimClock(frozen=settings.clock_frozen)
        self.dice = random.Random(settings.seed)
        self.durations = _duration_dice(settings.seed)
        self.images: dict[str, StoredImage] = {}
        self.operations: dict[str, SimOperation] = {}
        self.calls = CallLog()
        self.stats = Stats()
        self.limiter = RateLimiter()
        self._open: dict[str, set[str]] = {}  # per owner: operations not yet seen terminal
        self._creating: Counter[str] = Counter()  # per owner: creates under way (slots held)
        self._add_preset_images()

    def reset(self) -> None:
        """Back to how the simulator was started: no images, operations, calls or clock offset."""
        with self.lock:
            self.settings = self._startup
            self.clock = SimClock(frozen=self._startup.clock_frozen)
            self.dice = random.Random(self._startup.seed)
            self.durations = _duration_dice(self._startup.seed)
            self.images.clear()
            self.operations.clear()
            self.calls = CallLog()
            self.stats = Stats()
            self.limiter = RateLimiter()
            self._open = {}
            self._creating = Counter()
            self._add_preset_images()

    def configure(self, changes: dict[str, Any]) -> SimSettings:
        with self.lock:
            self.settings = self.settings.updated(changes)
            self.clock.set_frozen(self.settings.clock_frozen)
            if "seed" in changes:
                self.dice = random.Random(self.settings.seed)
                self.durations = _duration_dice(self.settings.seed)
            return self.settings

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.dice.random() < rate

    def record_call(self, route: str) -> None:
        with self.lock:
            self.calls.counts[route] += 1

    def _add_preset_images(self) -> None:
        for preset in PRESETS.values():
            self.images[preset.preset_id] = StoredImage(preset.preset_id, "presets", "png", "image/png", None)

    def store_image(self, kind: ImageKind, data: bytes, extension: str, content_type: str) -> StoredImage:
        expires_at = self.clock.now() + self.settings.image_ttl_seconds
        image = StoredImage(new_id(kind), kind, extension, content_type, expires_at, data=data)
        with self.lock:
            self.images[image.id] = image
        return image

    def live_image(self, image_id: str, kind: ImageKind) -> StoredImage | None:
        """An image of ``kind`` that exists and was not deleted (it may have expired)."""
        with self.lock:
            image = self.images.get(image_id)
        if image is None or image.kind != kind or image.deleted:
            return None
        return image

    def image_bytes(self, image: StoredImage) -> bytes:
        """The file's bytes, rendered on first use and kept."""
        if image.data is None:
            if image.kind == "presets":
                preset = PRESETS[image.id]
                image.data = render_preset_sample(preset.caption, preset.colour)
            elif image.spec is not None:
                image.data = render(image.spec)
        return image.data or b""

    def is_expired(self, image: StoredImage) -> bool:
        return image.expires_at is not None and self.clock.now() >= image.expires_at

    def add_operation(
        self,
        kind: OperationKind,
        look: Look,
        image_types: list[dict[str, str]],
        number_of_generations: int,
        input_ids: list[str],
        early_error: str | None,
        regenerated_from: str | None = None,
        owner: str = "",
        operation_id: str | None = None,
        plan: Plan | None = None,
    ) -> SimOperation:
        """A new operation; ``operation_id`` and ``plan`` are chosen only for a seeded one (admin)."""
        operation = SimOperation(
            id=operation_id or new_id(kind),
            kind=kind,
            created_at=self.clock.now(),
            plan=plan or self._plan(kind, look, early_error),
            look=look,
            image_types=image_types,
            number_of_generations=number_of_generations,
            input_ids=input_ids,
            regenerated_from=regenerated_from,
            owner=owner,
            null_polls=self.settings.null_polls_after_create,
        )
        with self.lock:
            self.operations[operation.id] = operation
            self.calls.operation_ids.append(operation.id)
            self._open.setdefault(owner, set()).add(operation.id)
        self.stats.record_create("on_figure_regenerate" if regenerated_from else kind)
        return operation

    def _plan(self, kind: OperationKind, look: Look, early_error: str | None) -> Plan:
        settings = self.settings
        outcome = self._forced_outcome(kind, look) or settings.forced_outcome
        if outcome is None:
            outcome = Outcome.FAILED if self.roll(settings.operation_fail_rate) else Outcome.SUCCESS
        with self.lock:
            duration = draw_duration(settings, look.operation_priority, self.durations)
        return Plan(
            outcome=outcome,
            duration=duration,
            paused_seconds=settings.paused_seconds,
            early_error=early_error,
            failure_error=settings.failure_error,
        )

    def _forced_outcome(self, kind: OperationKind, look: Look) -> Outcome | None:
        token = outcome_token(look.product.get("description"), kind)
        if token is None:
            return None
        outcome, once = token
        if once:
            product = look.product.get("id")
            with self.lock:
                earlier = any(
                    op.kind == kind and op.look.product.get("id") == product
                    for op in self.operations.values()
                )
            if earlier:
                return None
        return outcome

    def operation(self, operation_id: str, kind: OperationKind) -> SimOperation | None:
        with self.lock:
            operation = self.operations.get(operation_id)
        return operation if operation is not None and operation.kind == kind else None

    def status_of(self, operation: SimOperation) -> OperationStatus:
        return operation.plan.status_at(self.clock.now() - operation.created_at)

    def next_poll(self, operation: SimOperation) -> int:
        """Count one read of ``operation`` and say which it is (1 for the first)."""
        with self.lock:
            operation.polls += 1
            return operation.polls

    @contextmanager
    def creation_slot(self, owner: str) -> Iterator[None]:
        """Hold one of ``owner``'s unfinished-operation slots while an operation is created.

        The slot is taken before the slow part (downloading inputs) and counted until the new
        operation is stored, so two creates racing for the last slot cannot both get it.
        Raises ``TooManyUnfinished`` when ``max_unfinished_operations`` is reached.
        """
        limit = self.settings.max_unfinished_operations
        if limit is None:
            yield
            return
        with self.lock:
            unfinished = self._unfinished_of(owner)
            if len(unfinished) + self._creating[owner] >= limit:
                raise TooManyUnfinished(limit, self._slot_free_in(unfinished))
            # Released on this counter even if a reset replaces self._creating meanwhile.
            creating = self._creating
            creating[owner] += 1
        try:
            yield
        finally:
            with self.lock:
                creating[owner] -= 1

    def _unfinished_of(self, owner: str) -> list[SimOperation]:
        """``owner``'s operations that are not terminal now; the finished ones are forgotten here."""
        open_ids = self._open.get(owner, set())
        unfinished = [self.operations[op_id] for op_id in open_ids if op_id in self.operations]
        unfinished = [op for op in unfinished if not self.status_of(op).is_terminal]
        self._open[owner] = {op.id for op in unfinished}
        return unfinished

    def _slot_free_in(self, unfinished: list[SimOperation]) -> int:
        """Sim seconds until the first of ``unfinished`` ends, as a Retry-After value."""
        now = self.clock.now()
        ends = [
            op.created_at + finishes - now
            for op in unfinished
            if (finishes := op.plan.finishes_after()) is not None
        ]
        # Operations that never finish (or creates still under way) give no date: use the setting.
        return retry_after(min(ends) if ends else self.settings.retry_after_seconds)

    def results_of(self, operation: SimOperation) -> list[list[StoredImage]]:
        """The generated images, created the first time the operation is seen finished."""
        with self.lock:
            if operation.results is None:
                operation.results = [
                    [
                        self._generated(operation, index, variant)
                        for variant in range(1, 1 + operation.number_of_generations)
                    ]
                    for index in range(len(operation.image_types))
                ]
            return [[self.images[image_id] for image_id in row] for row in operation.results]

    def _generated(self, operation: SimOperation, type_index: int, variant: int) -> str:
        inputs = [self.images[image_id] for image_id in operation.input_ids]
        product = inputs[type_index % len(inputs)]
        look = operation.look
        size = look.output_image_size or {
            "width": self.settings.default_output_width,
            "height": self.settings.default_output_height,
        }
        paddings = look.output_image_paddings or {"top": 0, "bottom": 0, "left": 0, "right": 0}
        spec = RenderSpec(
            product=product.data or b"",
            width=size["width"],
            height=size["height"],
            paddings=(paddings["top"], paddings["bottom"], paddings["left"], paddings["right"]),
            background_type=look.background_settings["background_type"],
            reference_color=look.background_settings.get("reference_color"),
            label="/".join(operation.image_types[type_index].values()),
            variant=variant,
            variants=operation.number_of_generations,
            noise=self.settings.image_noise,
        )
        image = StoredImage(
            new_id("generated"),
            "generated",
            "png",
            "image/png",
            self.clock.now() + self.settings.image_ttl_seconds,
            spec=spec,
        )
        self.images[image.id] = image
        return image.id

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "clock": {
                    "now": iso(self.clock.now()),
                    "offset_seconds": self.clock.offset,
                    "frozen": self.settings.clock_frozen,
                },
                "operations": len(self.operations),
                "images": sum(1 for image in self.images.values() if image.kind != "presets"),
                "settings": self.settings.public_view(),
            }


def _duration_dice(seed: int | None) -> random.Random:
    """The generator of operation durations, apart from the fault dice.

    Separate so that the number of fault rolls (one per request) does not shift the durations a
    seeded run draws; derived from ``seed`` so a run with a seed repeats, and random without one.
    """
    return random.Random(None if seed is None else f"durations-{seed}")
