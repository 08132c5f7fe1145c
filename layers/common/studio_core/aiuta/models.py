"""Typed models of the Aiuta Studio API (base URL ``https://api.aiuta.com/studio/v1``).

Tolerant reader, strict writer. Requests are strict (``extra="forbid"``) and check client-side
every rule the API enforces, so a bad request fails here with a readable message instead of
costing a round trip. Answers have models of their own, separate from the requests': they ignore
fields they do not know and keep enum values they do not know as plain strings, so a new field
or a new value on Aiuta's side (a hair colour, a status) never breaks a poll.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)

DEFAULT_BASE_URL = "https://api.aiuta.com/studio/v1"
MAX_INPUT_IMAGES = 20
MAX_ON_FIGURE_IMAGE_TYPES = 35
MAX_FLAT_LAY_IMAGE_TYPES = 6
MIN_GENERATIONS = 1
MAX_GENERATIONS = 4
MAX_URL_LENGTH = 2083
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


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


class OperationPriority(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class OwnerType(StrEnum):
    USER = "user"
    AIUTA = "aiuta"


class BackgroundType(StrEnum):
    ARBITRARY = "arbitrary"
    TRANSPARENT = "transparent"
    REFERENCE_COLOR = "reference_color"


class OnFigureViewpoint(StrEnum):
    FRONT = "front"
    FRONT_ANGLED = "front_angled"
    BACK = "back"
    BACK_ANGLED = "back_angled"
    SIDE = "side"


class OnFigurePose(StrEnum):
    STANDING = "standing"
    WALKING = "walking"
    SITTING = "sitting"
    LEANING = "leaning"
    CROUCHING_OR_KNEELING = "crouching_or_kneeling"
    IN_ACTION = "in_action"
    CLOSE_UP = "close_up"


class FlatLayType(StrEnum):
    FLAT = "flat"
    GHOST_MANNEQUIN = "ghost_mannequin"
    DETAIL = "detail"


class FlatLayViewpoint(StrEnum):
    FRONT = "front"
    BACK = "back"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Ethnicity(StrEnum):
    EUROPEAN = "european"
    MIDDLE_EASTERN = "middle_eastern"
    INDIAN = "indian"
    ASIAN = "asian"
    PACIFIC_ISLANDER = "pacific_islander"
    AFRICAN = "african"
    LATINO = "latino"
    NATIVE_AMERICAN = "native_american"


class SkinTone(StrEnum):
    PALE_WHITE = "pale_white"
    WHITE = "white"
    LIGHT_BROWN = "light_brown"
    BROWN = "brown"
    DARK_BROWN = "dark_brown"
    BLACK = "black"


class BodyShape(StrEnum):
    REGULAR = "regular"
    THIN = "thin"
    MUSCULAR = "muscular"
    PLUS_SIZED = "plus_sized"


class AgeGroup(StrEnum):
    CHILD = "child"
    TEEN = "teen"
    YOUNG_ADULT = "young_adult"
    MIDDLE_AGED_ADULT = "middle_aged_adult"
    SENIOR_ADULT = "senior_adult"


class Height(StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    TALL = "tall"


class HairLength(StrEnum):
    BALD = "bald"
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class HairStyle(StrEnum):
    STRAIGHT = "straight"
    WAVY = "wavy"
    CURLY = "curly"


class HairColor(StrEnum):
    BLOND = "blond"
    DARK_BLOND = "dark_blond"
    MEDIUM_BROWN = "medium_brown"
    DARK_BROWN = "dark_brown"
    BLACK = "black"
    AUBURN = "auburn"
    RED = "red"
    GRAY = "gray"
    WHITE = "white"


def _check_http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an http(s) URL: {value[:80]!r}")
    return value


HttpUrlText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_check_http_url)
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    def to_api(self) -> dict[str, Any]:
        """The JSON body Aiuta expects: enums as strings, unset optional fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ImageSize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int
    height: int


class ImagePaddings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    top: int
    bottom: int
    left: int
    right: int


class BackgroundSettings(BaseModel):
    """How the background is generated; a reference colour goes with ``reference_color`` only."""

    model_config = ConfigDict(extra="forbid")
    background_type: BackgroundType
    reference_color: str | None = None

    @model_validator(mode="after")
    def _colour_matches_type(self) -> Self:
        if self.background_type is BackgroundType.REFERENCE_COLOR:
            if self.reference_color is None:
                raise ValueError("background_type 'reference_color' needs a reference_color like '#e8e4dc'")
            if not HEX_COLOUR.fullmatch(self.reference_color):
                raise ValueError(f"reference_color must be '#rrggbb', got {self.reference_color!r}")
        elif self.reference_color is not None:
            raise ValueError(
                f"reference_color is only allowed with background_type 'reference_color', "
                f"not {self.background_type.value!r}"
            )
        return self


class OnFigureImageType(BaseModel):
    """One on-figure shot: a viewpoint and a pose."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    viewpoint: OnFigureViewpoint
    pose: OnFigurePose

    @property
    def label(self) -> str:
        return f"{self.viewpoint.value}/{self.pose.value}"


class FlatLayImageType(BaseModel):
    """One flat-lay shot: a layout and a viewpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    flat_lay_type: FlatLayType
    viewpoint: FlatLayViewpoint

    @property
    def label(self) -> str:
        return f"{self.flat_lay_type.value}/{self.viewpoint.value}"


ImageType = OnFigureImageType | FlatLayImageType


class OnFigureModelSettings(BaseModel):
    """Appearance of the generated model; only the gender is required."""

    model_config = ConfigDict(extra="forbid")
    gender: Gender
    ethnicity: Ethnicity | None = None
    skin_tone: SkinTone | None = None
    body_shape: BodyShape | None = None
    age_group: AgeGroup | None = None
    height: Height | None = None
    hair_length: HairLength | None = None
    hair_style: HairStyle | None = None
    hair_color: HairColor | None = None
    is_pregnant: bool | None = None
    has_beard: bool | None = None
    has_tattoo: bool | None = None


class ProductInfo(BaseModel):
    """The product: its input images (URLs or uploaded ids) and optional metadata."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    image_urls: list[HttpUrlText] | None = Field(default=None, max_length=MAX_INPUT_IMAGES)
    uploaded_image_ids: list[str] | None = Field(default=None, max_length=MAX_INPUT_IMAGES)
    category: str | None = None
    title: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _exactly_one_image_source(self) -> Self:
        if self.image_urls is not None and self.uploaded_image_ids is not None:
            raise ValueError("give either image_urls or uploaded_image_ids, not both")
        images = self.image_urls if self.image_urls is not None else self.uploaded_image_ids
        if not images:
            raise ValueError(
                f"a product needs 1 to {MAX_INPUT_IMAGES} images (image_urls or uploaded_image_ids)"
            )
        return self


def _require_unique(image_types: list[Any]) -> None:
    seen: set[Any] = set()
    for image_type in image_types:
        if image_type in seen:
            raise ValueError(f"image type {image_type.label} is listed twice; image types must be unique")
        seen.add(image_type)


Generations = Annotated[int, Field(ge=MIN_GENERATIONS, le=MAX_GENERATIONS)]


class _GenerationRequest(_Request):
    product_info: ProductInfo
    operation_priority: OperationPriority = OperationPriority.OFFLINE
    number_of_generations: Generations = 1
    background_settings: BackgroundSettings | None = None
    output_image_size: ImageSize | None = None
    output_image_paddings: ImagePaddings | None = None


class GenerateOnFigureImagesRequest(_GenerationRequest):
    """Body of ``POST /on_figure_operations``."""

    image_types: list[OnFigureImageType] = Field(min_length=1, max_length=MAX_ON_FIGURE_IMAGE_TYPES)
    on_figure_model_preset_id: str | None = None
    on_figure_model_settings: OnFigureModelSettings | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        _require_unique(self.image_types)
        has_preset = self.on_figure_model_preset_id is not None
        has_settings = self.on_figure_model_settings is not None
        if has_preset == has_settings:
            raise ValueError(
                "give exactly one of on_figure_model_preset_id or on_figure_model_settings"
                + (" (both were given)" if has_preset else " (neither was given)")
            )
        return self


class GenerateFlatLayImagesRequest(_GenerationRequest):
    """Body of ``POST /flat_lay_operations``."""

    image_types: list[FlatLayImageType] = Field(min_length=1, max_length=MAX_FLAT_LAY_IMAGE_TYPES)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _require_unique(self.image_types)
        return self


class RegenerateOnFigureImagesRequest(_Request):
    """Body of ``POST /on_figure_operations/regenerate``: reuse an operation's settings and model."""

    original_operation_id: str = Field(min_length=1)
    number_of_generations: Generations | None = None
    image_types: list[OnFigureImageType] = Field(min_length=1, max_length=MAX_ON_FIGURE_IMAGE_TYPES)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _require_unique(self.image_types)
        return self


# Answers: tolerant readers. Aiuta may add a field, or a value to an enum, at any time; a
# client that read them with the strict request models would fail every poll the day it does.
# Every answer model ignores fields it does not know, and every enum in an answer keeps a value
# it does not know as the plain string (``known(value)`` tells which), so the pipeline decides
# what an unknown value means (an unknown operation status counts as unfinished).


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


class _Answer(BaseModel):
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
