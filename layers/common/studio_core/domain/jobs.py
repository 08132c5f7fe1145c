"""The job: what a store asks for one product, from ``product.json`` plus the template's defaults.

Field names follow the Aiuta API wherever it has one; ``kind``, ``input_mode``, ``product`` and
``regeneration`` are ours. ``build_job`` checks every rule Aiuta would check (by building the
real request models), before any call to Aiuta, and raises ``InvalidJob`` with one line per
problem, naming the field.
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from studio_core.aiuta.requests import (
    MAX_INPUT_IMAGES,
    BackgroundSettings,
    FlatLayImageType,
    Gender,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    Generations,
    HttpUrlText,
    ImagePaddings,
    ImageSize,
    OnFigureImageType,
    OnFigureModelSettings,
    OperationPriority,
    ProductInfo,
)
from studio_core.domain.base import Model
from studio_core.domain.errors import InvalidJob
from studio_core.domain.limits import MAX_CATEGORY_CHARS, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS
from studio_core.domain.urls import image_url_problem, shown_url
from studio_core.domain.vocabulary import (
    FlatLayTypeLabels,
    FlatLayTypes,
    InputMode,
    Kind,
    Kinds,
    OnFigureTypeLabels,
    OnFigureTypes,
    ReviewMode,
    flat_lay_labels_in,
    parse_kinds,
)

MAX_REGENERATION_ROUNDS = 5
# The job file is 4 levels deep (image_types.on_figure[0].viewpoint); 32 leaves room for any
# honest document and none for a parser's recursion.
MAX_JSON_DEPTH = 32
# Only used to run Aiuta's request rules before we know the real URLs or uploaded ids.
_PLACEHOLDER_URL = "https://placeholder.invalid/image.jpg"


class _Strict(Model):
    model_config = ConfigDict(extra="forbid")


class JobDefaults(Model):
    """What a job gets when its ``product.json`` (or the whole file) leaves a field out.

    The template's parameters set them (``DEFAULT_<FIELD>``, see ``studio_core.settings``).
    """

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
    review: ReviewMode = ReviewMode.NONE


class ProductDetails(_Strict):
    id: str | None = None
    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    category: str | None = Field(default=None, max_length=MAX_CATEGORY_CHARS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)


class RegenerationRound(_Strict):
    """One planned regeneration round: on-figure image types, optionally more generations."""

    image_types: OnFigureTypes = Field(min_length=1, max_length=35)
    number_of_generations: Generations | None = None

    @field_validator("image_types", mode="before")
    @classmethod
    def _on_figure_only(cls, value: Any) -> Any:
        flat = flat_lay_labels_in(value)
        if flat:
            raise ValueError(
                f"regeneration is on-figure only: {', '.join(flat)} "
                f"{'is a flat-lay type' if len(flat) == 1 else 'are flat-lay types'} "
                "(on-figure types look like 'back/walking')"
            )
        return value


class RegenerationPolicy(_Strict):
    rounds: list[RegenerationRound] = Field(default_factory=list)
    auto_regenerate_failed_checks: bool = False
    max_rounds: int = Field(default=2, ge=0, le=MAX_REGENERATION_ROUNDS)


class ImageTypes(_Strict):
    # Repeats are reported with the rest of Aiuta's request rules (see _request_problems).
    on_figure: OnFigureTypeLabels | None = None
    flat_lay: FlatLayTypeLabels | None = None


class JobSpec(_Strict):
    """A complete, validated job (defaults applied); what the execution carries as ``job``."""

    product: ProductDetails = Field(default_factory=ProductDetails)
    kind: list[Kind] = Field(min_length=1)
    input_mode: InputMode = InputMode.URLS
    image_urls: list[HttpUrlText] | None = Field(default=None, min_length=1, max_length=MAX_INPUT_IMAGES)
    operation_priority: OperationPriority = OperationPriority.ONLINE
    number_of_generations: Generations = 1
    image_types: ImageTypes = Field(default_factory=ImageTypes)
    background_settings: BackgroundSettings | None = None
    output_image_size: ImageSize | None = None
    output_image_paddings: ImagePaddings | None = None
    on_figure_model_preset_id: str | None = None
    on_figure_model_settings: OnFigureModelSettings | None = None
    regeneration: RegenerationPolicy = Field(default_factory=RegenerationPolicy)
    delete_at_aiuta_after_copy: bool | None = None
    # A new generation of work already done, asked for on purpose (not part of the work's identity).
    force: bool | None = None
    # Who decides what is published (None: ``none``); it does not change what Aiuta makes, so it is
    # not part of the work's identity either.
    review: ReviewMode | None = None

    @property
    def review_mode(self) -> ReviewMode:
        return self.review or ReviewMode.NONE

    @field_validator("kind", mode="before")
    @classmethod
    def _kinds(cls, value: Any) -> Any:
        return parse_kinds(value) if isinstance(value, str | list) else value

    @model_validator(mode="before")
    @classmethod
    def _plain_list_of_image_types(cls, data: Any) -> Any:
        # With a single kind, image_types may be a plain list of that kind's types.
        if isinstance(data, dict) and isinstance(data.get("image_types"), list):
            kinds = parse_kinds(data.get("kind", [])) if isinstance(data.get("kind"), str | list) else []
            if len(kinds) != 1:
                raise ValueError("image_types may be a plain list only when kind names a single kind")
            data = {**data, "image_types": {kinds[0].value: data["image_types"]}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for kind in Kind:
            if kind not in self.kind and getattr(self.image_types, kind.value) is not None:
                raise ValueError(
                    f"image_types.{kind.value} is given but kind does not include {kind.value!r}"
                )
        if Kind.ON_FIGURE not in self.kind and self.regeneration.rounds:
            raise ValueError("regeneration is on-figure only, and this job has no on_figure kind")
        if len(self.regeneration.rounds) > self.regeneration.max_rounds:
            raise ValueError(
                f"regeneration lists {len(self.regeneration.rounds)} rounds but max_rounds is "
                f"{self.regeneration.max_rounds}"
            )
        return self

    @classmethod
    def from_state(cls, job: dict[str, Any]) -> Self:
        return cls.model_validate(job)

    def to_state(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def types_for(self, kind: Kind) -> list[Any]:
        return list(getattr(self.image_types, kind.value) or [])

    def on_figure_request(self, info: ProductInfo) -> GenerateOnFigureImagesRequest:
        return GenerateOnFigureImagesRequest(
            product_info=info,
            image_types=self.types_for(Kind.ON_FIGURE),
            on_figure_model_preset_id=self.on_figure_model_preset_id,
            on_figure_model_settings=self.on_figure_model_settings,
            **self._common(),
        )

    def flat_lay_request(self, info: ProductInfo) -> GenerateFlatLayImagesRequest:
        return GenerateFlatLayImagesRequest(
            product_info=info, image_types=self.types_for(Kind.FLAT_LAY), **self._common()
        )

    def _common(self) -> dict[str, Any]:
        return {
            "operation_priority": self.operation_priority,
            "number_of_generations": self.number_of_generations,
            "background_settings": self.background_settings,
            "output_image_size": self.output_image_size,
            "output_image_paddings": self.output_image_paddings,
        }


class JsonTooDeep(ValueError):
    """A JSON text nested deeper than ``MAX_JSON_DEPTH``: bad input, not a bug."""

    def __init__(self) -> None:
        super().__init__(f"is nested too deeply (more than {MAX_JSON_DEPTH} levels of [ or {{)")


def load_json_text(text: str) -> Any:
    """``json.loads`` for text a user wrote: nesting past ``MAX_JSON_DEPTH`` raises ``JsonTooDeep``
    (100,000 ``[`` would otherwise end in a RecursionError, here or in whatever reads it next)."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise JsonTooDeep from None
    if _depth(document) > MAX_JSON_DEPTH:
        raise JsonTooDeep
    return document


def _depth(document: Any) -> int:
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                pending.extend(
                    (item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)
                )
    return deepest


def parse_json_document(raw: bytes, what: str) -> Any:
    """JSON from a user's file, with the line and column of a syntax error."""
    try:
        return load_json_text(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidJob(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidJob(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except JsonTooDeep as exc:
        raise InvalidJob(f"{what} {exc}") from None


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One readable line per problem: ``number_of_generations: ...``; unknown keys named as such."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key {where!r} (check the spelling; see the README for the job file)")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "enum" and "expected" in error.get("ctx", {}):
            message = f"{error['input']!r} is not one of {error['ctx']['expected']}"
        elif error["type"] in ("model_type", "dict_type", "model_attributes_type"):
            message = f"must be a JSON object ({{...}}), not {_json_type(error.get('input'))}"
        elif error["type"] == "list_type":
            message = f"must be a list ([...]), not {_json_type(error.get('input'))}"
        elif error["type"] == "missing":
            message = "is required"
        lines.append(f"{where}: {message}" if where else message)
    return lines


def _json_type(value: Any) -> str:
    """How a person who wrote JSON calls ``value``'s type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:60]!r}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def build_job(
    product_id: str,
    document: dict[str, Any] | None,
    *,
    image_count: int,
    defaults: JobDefaults,
    allow_private_image_urls: bool = False,
) -> JobSpec:
    """The job for one product: its file (or nothing) + defaults, checked against Aiuta's rules.

    ``image_urls`` must be public http(s) links without credentials (``domain.urls``); loopback
    and private hosts only with ``allow_private_image_urls`` (a test's local image host).
    """
    if document is not None and not isinstance(document, dict):
        raise InvalidJob('the job file must be a JSON object, like {"kind": "on_figure"}')
    document = dict(document or {})
    problems: list[str] = []
    product = document.get("product")
    if isinstance(product, dict) and product.get("id") not in (None, product_id):
        problems.append(f"product.id {product.get('id')!r} does not match the folder name {product_id!r}")
    try:
        spec = JobSpec.model_validate(_with_defaults(document, defaults))
    except ValidationError as exc:
        problems.extend(describe_validation_error(exc))
        # The image count is still worth knowing, unless image_urls itself was the problem.
        if not any(line.startswith("image_urls") for line in problems):
            urls = document.get("image_urls")
            problems.extend(_input_problems(urls if isinstance(urls, list) else None, image_count))
        raise InvalidJob(_summary(product_id, problems)) from None
    spec.product.id = product_id
    problems.extend(image_url_problems(spec.image_urls or [], allow_private=allow_private_image_urls))
    problems.extend(_input_problems(spec.image_urls, image_count))
    problems.extend(_request_problems(spec, image_count))
    if problems:
        raise InvalidJob(_summary(product_id, problems))
    return spec


def _with_defaults(document: dict[str, Any], defaults: JobDefaults) -> dict[str, Any]:
    merged = dict(document)
    merged.setdefault("kind", [k.value for k in defaults.kind])
    merged.setdefault("input_mode", defaults.input_mode.value)
    merged.setdefault("operation_priority", defaults.operation_priority.value)
    merged.setdefault("number_of_generations", defaults.number_of_generations)
    merged.setdefault("delete_at_aiuta_after_copy", defaults.delete_at_aiuta_after_copy)
    if defaults.review is not ReviewMode.NONE:  # a job without review keeps today's state, unchanged
        merged.setdefault("review", defaults.review.value)
    try:
        kinds = parse_kinds(merged["kind"]) if isinstance(merged["kind"], str | list) else []
    except ValueError:
        return merged  # the model reports the bad kind
    image_types = merged.get("image_types")
    if isinstance(image_types, list) and len(kinds) == 1:
        image_types = {kinds[0].value: image_types}
    if image_types is None or isinstance(image_types, dict):
        image_types = dict(image_types or {})
        if Kind.ON_FIGURE in kinds:
            image_types.setdefault(
                "on_figure", [t.model_dump(mode="json") for t in defaults.on_figure_image_types]
            )
        if Kind.FLAT_LAY in kinds:
            image_types.setdefault(
                "flat_lay", [t.model_dump(mode="json") for t in defaults.flat_lay_image_types]
            )
        merged["image_types"] = image_types
    if Kind.ON_FIGURE in kinds and not (
        merged.get("on_figure_model_preset_id") or merged.get("on_figure_model_settings")
    ):
        merged["on_figure_model_settings"] = {"gender": defaults.model_gender.value}
    return merged


def image_url_problems(urls: list[str], *, allow_private: bool = False) -> list[str]:
    """One line per refused image URL: Aiuta fetches them, and the gallery shows them to every viewer."""
    problems = []
    for index, url in enumerate(urls):
        problem = image_url_problem(url, allow_private=allow_private)
        if problem:
            problems.append(f"image_urls.{index} ({shown_url(url)}) is refused: {problem}")
    return problems


def _input_problems(image_urls: list[Any] | None, image_count: int) -> list[str]:
    if image_urls and image_count:
        return [
            f"give either image files ({image_count} in the folder) or image_urls in the job file, not both"
        ]
    count = len(image_urls or []) or image_count
    if count == 0:
        return [
            "no images: add 1-20 photos (.jpg, .jpeg, .png, .webp, or iPhone .heic) to the folder, "
            "or image_urls to the job file"
        ]
    if count > MAX_INPUT_IMAGES:
        return [f"{count} images, but Aiuta takes at most {MAX_INPUT_IMAGES} per product"]
    return []


def _request_problems(spec: JobSpec, image_count: int) -> list[str]:
    """Builds each Aiuta request with placeholder images so every API rule runs now."""
    count = min(max(len(spec.image_urls or []) or image_count, 1), MAX_INPUT_IMAGES)
    info = ProductInfo(image_urls=[_PLACEHOLDER_URL] * count)
    problems: list[str] = []
    for kind in spec.kind:
        try:
            spec.on_figure_request(info) if kind is Kind.ON_FIGURE else spec.flat_lay_request(info)
        except ValidationError as exc:
            problems.extend(f"{kind.value}: {line}" for line in describe_validation_error(exc))
    return problems


def _summary(product_id: str, problems: list[str]) -> str:
    return f"product {product_id!r}: the job is invalid: " + "; ".join(problems)


class RegenerationRequest(RegenerationRound):
    """``regenerate/<product-id>.json``: a round of new on-figure types for a product's latest job
    (or the job named by ``job_id``)."""

    job_id: str | None = None
    force: bool | None = None  # the same round again, asked for on purpose


def parse_regeneration_request(raw: bytes, product_id: str, source: str | None = None) -> RegenerationRequest:
    document = parse_json_document(raw, source or f"regenerate/{product_id}.json")
    if not isinstance(document, dict):
        raise InvalidJob(
            f"regeneration request for {product_id!r} must be a JSON object, "
            'like {"image_types": ["back/walking"]}'
        )
    try:
        return RegenerationRequest.model_validate(document)
    except ValidationError as exc:
        lines = describe_validation_error(exc)
        raise InvalidJob(f"regeneration request for {product_id!r} is invalid: " + "; ".join(lines)) from None
