"""Settings the template gives every function: job defaults and the polling schedule.

Each is a pydantic model read from environment variables at cold start, so a wrong value
(``DEFAULT_KIND=onfigure``) stops the function at start-up with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, model_validator

from studio_core.aiuta.models import FlatLayImageType, Gender, OnFigureImageType, OperationPriority
from studio_core.domain.state import InputMode, Kind

KIND_ALIASES = {"both": [Kind.ON_FIGURE, Kind.FLAT_LAY]}


def parse_kinds(value: Any) -> list[Kind]:
    """``on_figure``, ``flat_lay``, ``both``, or a list of kinds, as a list without repeats."""
    if isinstance(value, str):
        value = KIND_ALIASES.get(value.strip(), [part.strip() for part in value.split(",") if part.strip()])
    kinds: list[Kind] = []
    for item in value:
        for one in KIND_ALIASES.get(item, [item]) if isinstance(item, str) else [item]:
            if one not in [k.value for k in Kind]:
                raise ValueError(f"{one!r} is not one of 'on_figure', 'flat_lay' or 'both'")
            if Kind(one) not in kinds:
                kinds.append(Kind(one))
    return kinds


def parse_image_type_labels(value: Any, kind: Kind) -> Any:
    """``"front/standing,back/walking"`` (or a list of such labels) as image type dicts."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return value
    return [image_type_from_label(item, kind) if isinstance(item, str) else item for item in value]


def image_type_from_label(label: str, kind: Kind) -> dict[str, str]:
    parts = [part.strip() for part in label.split("/")]
    if len(parts) != 2:
        example = "front/standing" if kind is Kind.ON_FIGURE else "ghost_mannequin/front"
        raise ValueError(f"image type {label!r} must look like {example!r}")
    if kind is Kind.ON_FIGURE:
        return {"viewpoint": parts[0], "pose": parts[1]}
    return {"flat_lay_type": parts[0], "viewpoint": parts[1]}


def _unique_labels(image_types: list[Any]) -> list[Any]:
    # Aiuta refuses repeated types; say so where the list is written, not when a paid call fails.
    labels = [t.label for t in image_types]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"image types must be unique; listed twice: {', '.join(repeated)}")
    return image_types


# Kinds and image types as people write them: "both", "front/standing", or the API's objects.
Kinds = Annotated[list[Kind], BeforeValidator(parse_kinds)]
OnFigureTypeLabels = Annotated[
    list[OnFigureImageType], BeforeValidator(partial(parse_image_type_labels, kind=Kind.ON_FIGURE))
]
FlatLayTypeLabels = Annotated[
    list[FlatLayImageType], BeforeValidator(partial(parse_image_type_labels, kind=Kind.FLAT_LAY))
]
# The same, refusing repeats on the spot (where no Aiuta request model checks them later).
OnFigureTypes = Annotated[OnFigureTypeLabels, AfterValidator(_unique_labels)]
FlatLayTypes = Annotated[FlatLayTypeLabels, AfterValidator(_unique_labels)]


class _EnvSettings(BaseModel):
    """Settings read from the environment variables named in ``ENV`` (field -> variable)."""

    ENV: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return _from_env(cls, cls.ENV, os.environ if environ is None else environ)


def _from_env(model: type[BaseModel], names: Mapping[str, str], environ: Mapping[str, str]) -> Any:
    values = {field: environ[name] for field, name in names.items() if environ.get(name, "") != ""}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{names.get(str(e['loc'][0]), e['loc'][0])}: {_message(e)}" if e["loc"] else _message(e)
            for e in exc.errors()
        )
        raise RuntimeError(f"invalid settings in the environment: {problems}") from None


def _message(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


class JobDefaults(_EnvSettings):
    """What a job gets when its ``product.json`` (or the whole file) leaves a field out."""

    kind: Kinds = Field(default_factory=lambda: [Kind.ON_FIGURE], min_length=1)
    on_figure_image_types: OnFigureTypes = Field(
        default_factory=lambda: [OnFigureImageType(viewpoint="front", pose="standing")], min_length=1
    )
    flat_lay_image_types: FlatLayTypes = Field(
        default_factory=lambda: [FlatLayImageType(flat_lay_type="ghost_mannequin", viewpoint="front")],
        min_length=1,
    )
    operation_priority: OperationPriority = OperationPriority.ONLINE
    number_of_generations: int = Field(default=1, ge=1, le=4)
    input_mode: InputMode = InputMode.URLS
    model_gender: Gender = Gender.FEMALE
    delete_at_aiuta_after_copy: bool = False

    ENV: ClassVar[dict[str, str]] = {
        "kind": "DEFAULT_KIND",
        "on_figure_image_types": "DEFAULT_ON_FIGURE_IMAGE_TYPES",
        "flat_lay_image_types": "DEFAULT_FLAT_LAY_IMAGE_TYPES",
        "operation_priority": "DEFAULT_OPERATION_PRIORITY",
        "number_of_generations": "DEFAULT_NUMBER_OF_GENERATIONS",
        "input_mode": "DEFAULT_INPUT_MODE",
        "model_gender": "DEFAULT_MODEL_GENDER",
        "delete_at_aiuta_after_copy": "DELETE_AT_AIUTA_AFTER_COPY",
    }


class PollSettings(_EnvSettings):
    """The status-check schedule: a first wait near the expected duration, then a backoff.

    Online operations take seconds to a minute, offline ones up to a few hours; the deadline
    after which a job is TIMED_OUT is per priority too.
    """

    first_wait_online_seconds: int = Field(default=20, ge=0)
    first_wait_offline_seconds: int = Field(default=300, ge=0)
    min_wait_seconds: int = Field(default=2, ge=0)
    max_wait_seconds: int = Field(default=600, ge=1)
    backoff_factor: float = Field(default=1.5, ge=1.0, le=10.0)
    deadline_online_seconds: int = Field(default=3600, ge=1)
    deadline_offline_seconds: int = Field(default=259200, ge=1)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Self:
        if self.min_wait_seconds > self.max_wait_seconds:
            raise ValueError(
                f"POLL_MIN_WAIT_SECONDS ({self.min_wait_seconds}) must not exceed "
                f"POLL_MAX_WAIT_SECONDS ({self.max_wait_seconds})"
            )
        return self

    ENV: ClassVar[dict[str, str]] = {
        "first_wait_online_seconds": "POLL_FIRST_WAIT_ONLINE_SECONDS",
        "first_wait_offline_seconds": "POLL_FIRST_WAIT_OFFLINE_SECONDS",
        "min_wait_seconds": "POLL_MIN_WAIT_SECONDS",
        "max_wait_seconds": "POLL_MAX_WAIT_SECONDS",
        "backoff_factor": "POLL_BACKOFF_FACTOR",
        "deadline_online_seconds": "JOB_DEADLINE_ONLINE_SECONDS",
        "deadline_offline_seconds": "JOB_DEADLINE_OFFLINE_SECONDS",
    }

    def first_wait(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.first_wait_online_seconds
        return self.first_wait_offline_seconds

    def deadline_seconds(self, priority: OperationPriority) -> int:
        if priority is OperationPriority.ONLINE:
            return self.deadline_online_seconds
        return self.deadline_offline_seconds
