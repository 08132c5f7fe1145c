"""What we send to the Aiuta Studio API (base URL ``https://api.aiuta.com/studio/v1``): strict writers.

Requests are strict (``extra="forbid"``) and check client-side every rule the API enforces, so a
bad request fails here with a readable message instead of costing a round trip. The enums here
are the API's vocabulary; the answers (``aiuta.answers``) read them tolerantly.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from studio_core.domain.base import Model

DEFAULT_BASE_URL = "https://api.aiuta.com/studio/v1"
MAX_INPUT_IMAGES = 20
MAX_ON_FIGURE_IMAGE_TYPES = 35
MAX_FLAT_LAY_IMAGE_TYPES = 6
MIN_GENERATIONS = 1
MAX_GENERATIONS = 4
MAX_URL_LENGTH = 2083
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class OperationPriority(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


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


class _Request(Model):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    def to_api(self) -> dict[str, Any]:
        """The JSON body Aiuta expects: enums as strings, unset optional fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ImageSize(Model):
    model_config = ConfigDict(extra="forbid")
    width: int
    height: int


class ImagePaddings(Model):
    model_config = ConfigDict(extra="forbid")
    top: int
    bottom: int
    left: int
    right: int


class BackgroundSettings(Model):
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


class OnFigureImageType(Model):
    """One on-figure shot: a viewpoint and a pose."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    viewpoint: OnFigureViewpoint
    pose: OnFigurePose

    @property
    def label(self) -> str:
        return f"{self.viewpoint.value}/{self.pose.value}"


class FlatLayImageType(Model):
    """One flat-lay shot: a layout and a viewpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    flat_lay_type: FlatLayType
    viewpoint: FlatLayViewpoint

    @property
    def label(self) -> str:
        return f"{self.flat_lay_type.value}/{self.viewpoint.value}"


ImageType = OnFigureImageType | FlatLayImageType


class OnFigureModelSettings(Model):
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


class ProductInfo(Model):
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
