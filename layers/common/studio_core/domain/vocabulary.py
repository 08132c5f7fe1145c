"""The words the whole pipeline shares: kinds, input modes, image types and how people write them.

In Python an image type is always one of the API's models (``OnFigureImageType`` or
``FlatLayImageType``). A label (``"front/standing"``, ``"ghost_mannequin/front"``) appears only at
the edges: the job file, object keys, the execution state and the job record, where a person
reads it. The annotated types below parse either form and write the label.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from studio_core.aiuta.requests import FlatLayImageType, FlatLayType, OnFigureImageType

ImageType = OnFigureImageType | FlatLayImageType


class Kind(StrEnum):
    ON_FIGURE = "on_figure"
    FLAT_LAY = "flat_lay"


class InputMode(StrEnum):
    """How Aiuta gets the images in the bucket: presigned GET URLs, or uploaded bytes."""

    URLS = "urls"
    UPLOAD = "upload"


class ReviewMode(StrEnum):
    """Who decides which generated images go to the shop (``review`` in a job file)."""

    NONE = "none"  # nobody: the images stay in outbox/, nothing is published (the default)
    AUTO = "auto"  # the result checks: every image that passed them is published at once
    REQUIRED = "required"  # a person: the job waits for a decision under review/


KIND_ALIASES = {"both": [Kind.ON_FIGURE, Kind.FLAT_LAY]}
LABEL_EXAMPLES = {Kind.ON_FIGURE: "front/standing", Kind.FLAT_LAY: "ghost_mannequin/front"}


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


def kind_of(image_type: ImageType) -> Kind:
    return Kind.ON_FIGURE if isinstance(image_type, OnFigureImageType) else Kind.FLAT_LAY


def image_type_fields(label: str, kind: Kind) -> dict[str, str]:
    """``"front/standing"`` as the API's fields for ``kind``; a malformed label names an example."""
    parts = [part.strip() for part in label.split("/")]
    if len(parts) != 2:
        raise ValueError(f"image type {label!r} must look like {LABEL_EXAMPLES[kind]!r}")
    if kind is Kind.ON_FIGURE:
        return {"viewpoint": parts[0], "pose": parts[1]}
    return {"flat_lay_type": parts[0], "viewpoint": parts[1]}


def on_figure_type(label: str) -> OnFigureImageType:
    return OnFigureImageType.model_validate(image_type_fields(label, Kind.ON_FIGURE))


def image_type_from_label(label: str) -> ImageType:
    """Either kind's type from its label: flat-lay labels start with a flat-lay type."""
    kind = Kind.FLAT_LAY if label.split("/", 1)[0].strip() in set(FlatLayType) else Kind.ON_FIGURE
    fields = image_type_fields(label, kind)
    if kind is Kind.FLAT_LAY:
        return FlatLayImageType.model_validate(fields)
    return OnFigureImageType.model_validate(fields)


def flat_lay_labels_in(value: Any) -> list[str]:
    """The flat-lay image types in a list of labels or objects (where on-figure ones are wanted)."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    found = []
    for item in items:
        if isinstance(item, str) and item.split("/", 1)[0].strip() in set(FlatLayType):
            found.append(repr(item.strip()))
        elif isinstance(item, dict) and "flat_lay_type" in item:
            found.append(repr(f"{item.get('flat_lay_type')}/{item.get('viewpoint')}"))
    return found


def _labels_as_fields(value: Any, kind: Kind) -> Any:
    """``"front/standing,back/walking"`` (or a list of labels and objects) as the API's objects."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return value
    return [image_type_fields(item, kind) if isinstance(item, str) else item for item in value]


def _any_label(value: Any) -> Any:
    return image_type_from_label(value) if isinstance(value, str) else value


def _unique_labels(image_types: list[Any]) -> list[Any]:
    # Aiuta refuses repeated types; say so where the list is written, not when a paid call fails.
    labels = [t.label for t in image_types]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"image types must be unique; listed twice: {', '.join(repeated)}")
    return image_types


def _label(image_type: ImageType) -> str:
    return image_type.label


# Kinds and image types as people write them: "both", "front/standing", or the API's objects.
Kinds = Annotated[list[Kind], BeforeValidator(parse_kinds)]
OnFigureTypeLabels = Annotated[
    list[OnFigureImageType], BeforeValidator(partial(_labels_as_fields, kind=Kind.ON_FIGURE))
]
FlatLayTypeLabels = Annotated[
    list[FlatLayImageType], BeforeValidator(partial(_labels_as_fields, kind=Kind.FLAT_LAY))
]
# The same, refusing repeats on the spot (where no Aiuta request model checks them later).
OnFigureTypes = Annotated[OnFigureTypeLabels, AfterValidator(_unique_labels)]
FlatLayTypes = Annotated[FlatLayTypeLabels, AfterValidator(_unique_labels)]

# One image type written as its label (execution state, job record); reads a label or an object.
LabelledImageType = Annotated[
    ImageType, BeforeValidator(_any_label), PlainSerializer(_label, return_type=str)
]
LabelledOnFigureType = Annotated[
    OnFigureImageType,
    BeforeValidator(lambda v: on_figure_type(v) if isinstance(v, str) else v),
    PlainSerializer(_label, return_type=str),
]
