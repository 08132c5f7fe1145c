"""What the Aiuta Studio API answers: tolerant readers.

Answers have models of their own, separate from the requests': they ignore fields they do not
know and keep enum values they do not know as plain strings, so a new field or a new value on
Aiuta's side (a hair colour, a status) never breaks a poll (a client that read them with the
strict request models would fail every poll the day Aiuta adds one). ``known(value)`` tells a
known enum member from a raw string, so the pipeline decides what an unknown value means (an
unknown operation status counts as unfinished).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError

from studio_core.aiuta.requests import (
    AgeGroup,
    BackgroundType,
    BodyShape,
    Ethnicity,
    FlatLayImageType,
    Gender,
    HairColor,
    HairLength,
    HairStyle,
    Height,
    OnFigureImageType,
    OperationPriority,
    SkinTone,
)
from studio_core.domain.base import Model


class OperationStatus(StrEnum):
    CREATED = "CREATED"
    IN_PROGRESS = "IN_PROGRESS"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self not in (OperationStatus.CREATED, OperationStatus.IN_PROGRESS, OperationStatus.PAUSED)


class OwnerType(StrEnum):
    USER = "user"
    AIUTA = "aiuta"


def _keep_unknown(enum_type: type[StrEnum]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a string for {enum_type.__name__}, got {type(value).__name__}")
        try:
            return enum_type(value)
        except ValueError:
            return value

    return parse


def _tolerant(enum_type: type[StrEnum]) -> Any:
    """``enum_type`` in an answer: the member when known, else Aiuta's raw string."""
    return Annotated[enum_type | str, PlainValidator(_keep_unknown(enum_type), json_schema_input_type=str)]


def known(value: Any) -> bool:
    """Whether an answer's enum value is one this code knows (else it is the raw string)."""
    return isinstance(value, StrEnum)


# An operation status as read from an answer: an ``OperationStatus``, or Aiuta's raw string.
StatusValue = Annotated[
    OperationStatus | str, PlainValidator(_keep_unknown(OperationStatus), json_schema_input_type=str)
]
PriorityValue = Annotated[
    OperationPriority | str, PlainValidator(_keep_unknown(OperationPriority), json_schema_input_type=str)
]
OwnerTypeValue = Annotated[
    OwnerType | str, PlainValidator(_keep_unknown(OwnerType), json_schema_input_type=str)
]


class _Answer(Model):
    model_config = ConfigDict(extra="ignore")


class UnlistedImageType(_Answer):
    """An image type in an answer whose values this code does not know (kept as Aiuta wrote them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    viewpoint: str | None = None
    pose: str | None = None
    flat_lay_type: str | None = None

    @property
    def label(self) -> str:
        parts = [self.flat_lay_type, self.viewpoint] if self.flat_lay_type else [self.viewpoint, self.pose]
        return "/".join(part or "?" for part in parts)


def _answer_type(model: type[BaseModel]) -> Callable[[Any], Any]:
    """An image type of an answer as the request model when its values are known (extra fields
    dropped), so it compares equal to what was asked; else an ``UnlistedImageType``."""
    fields = tuple(model.model_fields)

    def parse(value: Any) -> Any:
        if isinstance(value, model | UnlistedImageType) or not isinstance(value, dict):
            return value
        try:
            return model.model_validate({name: value.get(name) for name in fields})
        except ValidationError:
            return UnlistedImageType.model_validate(value)

    return parse


AnswerOnFigureType = Annotated[
    OnFigureImageType | UnlistedImageType, BeforeValidator(_answer_type(OnFigureImageType))
]
AnswerFlatLayType = Annotated[
    FlatLayImageType | UnlistedImageType, BeforeValidator(_answer_type(FlatLayImageType))
]


class AnswerImageSize(_Answer):
    width: int | None = None
    height: int | None = None


class AnswerPaddings(_Answer):
    top: int | None = None
    bottom: int | None = None
    left: int | None = None
    right: int | None = None


class AnswerBackgroundSettings(_Answer):
    background_type: _tolerant(BackgroundType) | None = None  # type: ignore[valid-type]
    reference_color: str | None = None


class AnswerModelSettings(_Answer):
    """A model appearance as Aiuta describes it (a preset's settings, an operation's settings)."""

    gender: _tolerant(Gender) | None = None  # type: ignore[valid-type]
    ethnicity: _tolerant(Ethnicity) | None = None  # type: ignore[valid-type]
    skin_tone: _tolerant(SkinTone) | None = None  # type: ignore[valid-type]
    body_shape: _tolerant(BodyShape) | None = None  # type: ignore[valid-type]
    age_group: _tolerant(AgeGroup) | None = None  # type: ignore[valid-type]
    height: _tolerant(Height) | None = None  # type: ignore[valid-type]
    hair_length: _tolerant(HairLength) | None = None  # type: ignore[valid-type]
    hair_style: _tolerant(HairStyle) | None = None  # type: ignore[valid-type]
    hair_color: _tolerant(HairColor) | None = None  # type: ignore[valid-type]
    is_pregnant: bool | None = None
    has_beard: bool | None = None
    has_tattoo: bool | None = None


class OperationProductInfo(_Answer):
    """Product data as Aiuta returns it inside an operation (inputs always as ``image_urls``)."""

    id: str | None = None
    image_urls: list[str] | None = None
    category: str | None = None
    title: str | None = None
    description: str | None = None


class AiutaImage(_Answer):
    """An image stored at Aiuta (uploaded or generated); its URL may stop working after ``expires_at``."""

    id: str
    owner_type: OwnerTypeValue = OwnerType.USER
    url: str
    expires_at: datetime | None = None


class CreateOperationResponse(_Answer):
    operation_id: str


class OnFigureGenerationResultItem(_Answer):
    image_type: AnswerOnFigureType
    generated_images: list[AiutaImage] = Field(default_factory=list)


class FlatLayGenerationResultItem(_Answer):
    image_type: AnswerFlatLayType
    generated_images: list[AiutaImage] = Field(default_factory=list)


class _Operation(_Answer):
    id: str
    status: StatusValue
    error: str | None = None
    product_info: OperationProductInfo | None = None
    operation_priority: PriorityValue = OperationPriority.OFFLINE
    number_of_generations: int = 1
    background_settings: AnswerBackgroundSettings | None = None
    output_image_size: AnswerImageSize | None = None
    output_image_paddings: AnswerPaddings | None = None


class OnFigureOperation(_Operation):
    """An on-figure (or on-figure regeneration) operation as returned by ``GET``."""

    image_types: list[AnswerOnFigureType] = Field(default_factory=list)
    on_figure_model_preset_id: str | None = None
    on_figure_model_settings: AnswerModelSettings | None = None
    generation_result: list[OnFigureGenerationResultItem] | None = None


class FlatLayOperation(_Operation):
    """A flat-lay operation as returned by ``GET``."""

    image_types: list[AnswerFlatLayType] = Field(default_factory=list)
    generation_result: list[FlatLayGenerationResultItem] | None = None


class OnFigureModelPreset(_Answer):
    """A ready-made model appearance from ``GET /on_figure_model_presets``."""

    preset_id: str
    sample_image: str | None = None
    settings: AnswerModelSettings = Field(default_factory=AnswerModelSettings)


class FieldError(_Answer):
    """One entry of a 422 answer's ``detail`` list."""

    loc: list[str | int]
    msg: str
    type: str

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc if part != "body")
        return f"{where}: {self.msg}" if where else self.msg


class HTTPValidationError(_Answer):
    detail: list[FieldError] = Field(default_factory=list)
