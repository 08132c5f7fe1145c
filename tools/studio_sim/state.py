"""Everything the simulator remembers: images, operations, settings, the clock and call counts.

One lock guards the dictionaries; slow work (downloads, rendering) happens outside it.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from studio_core.aiuta.models import OperationStatus
from studio_sim.images import RenderSpec, render, render_preset_sample
from studio_sim.presets import PRESETS
from studio_sim.settings import Outcome, SimSettings
from studio_sim.timeline import Plan, SimClock, iso, outcome_from_description

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
        self.images: dict[str, StoredImage] = {}
        self.operations: dict[str, SimOperation] = {}
        self.calls = CallLog()
        self._add_preset_images()

    def reset(self) -> None:
        """Back to how the simulator was started: no images, operations, calls or clock offset."""
        with self.lock:
            self.settings = self._startup
            self.clock = SimClock(frozen=self._startup.clock_frozen)
            self.dice = random.Random(self._startup.seed)
            self.images.clear()
            self.operations.clear()
            self.calls = CallLog()
            self._add_preset_images()

    def configure(self, changes: dict[str, Any]) -> SimSettings:
        with self.lock:
            self.settings = self.settings.updated(changes)
            self.clock.set_frozen(self.settings.clock_frozen)
            if "seed" in changes:
                self.dice = random.Random(self.settings.seed)
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
    ) -> SimOperation:
        operation = SimOperation(
            id=new_id(kind),
            kind=kind,
            created_at=self.clock.now(),
            plan=self._plan(look.product.get("description"), early_error),
            look=look,
            image_types=image_types,
            number_of_generations=number_of_generations,
            input_ids=input_ids,
            regenerated_from=regenerated_from,
        )
        with self.lock:
            self.operations[operation.id] = operation
            self.calls.operation_ids.append(operation.id)
        return operation

    def _plan(self, description: str | None, early_error: str | None) -> Plan:
        settings = self.settings
        outcome = outcome_from_description(description) or settings.forced_outcome
        if outcome is None:
            outcome = Outcome.FAILED if self.roll(settings.operation_fail_rate) else Outcome.SUCCESS
        return Plan(
            outcome=outcome,
            duration=settings.operation_seconds,
            paused_seconds=settings.paused_seconds,
            early_error=early_error,
            failure_error=settings.failure_error,
        )

    def operation(self, operation_id: str, kind: OperationKind) -> SimOperation | None:
        with self.lock:
            operation = self.operations.get(operation_id)
        return operation if operation is not None and operation.kind == kind else None

    def status_of(self, operation: SimOperation) -> OperationStatus:
        return operation.plan.status_at(self.clock.now() - operation.created_at)

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
