"""Checks on a copied round, and the decision whether another regeneration round follows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from studio_core.aiuta.models import OnFigureImageType
from studio_core.domain.jobs import JobSpec
from studio_core.domain.state import Kind, OperationRef
from studio_core.settings import image_type_from_label


@dataclass(frozen=True)
class CopiedImage:
    kind: str
    image_type: str  # label, e.g. "front/standing"
    variant: int
    width: int | None
    height: int | None
    error: str | None = None


@dataclass(frozen=True)
class Finding:
    """Something wrong with a round's images; ``image_type`` is what a regeneration would redo."""

    kind: str
    image_type: str
    message: str


@dataclass(frozen=True)
class RoundPlan:
    image_types: list[OnFigureImageType]
    number_of_generations: int | None
    reason: str


def check_results(spec: JobSpec, operations: list[OperationRef], images: list[CopiedImage]) -> list[Finding]:
    """Missing variants, undecodable images and wrong sizes, per operation of the round."""
    findings: list[Finding] = []
    per_type = Counter((image.kind, image.image_type) for image in images if image.error is None)
    for op in operations:
        for label in op.image_types:
            got = per_type[(op.kind.value, label)]
            if got < op.number_of_generations:
                findings.append(
                    Finding(
                        op.kind.value, label, f"{label}: {got} of {op.number_of_generations} images arrived"
                    )
                )
    wanted = spec.output_image_size
    for image in images:
        if image.error is not None:
            findings.append(
                Finding(image.kind, image.image_type, f"{image.image_type} v{image.variant}: {image.error}")
            )
        elif wanted and (image.width, image.height) != (wanted.width, wanted.height):
            findings.append(
                Finding(
                    image.kind,
                    image.image_type,
                    f"{image.image_type} v{image.variant} is {image.width}x{image.height}, "
                    f"not the requested {wanted.width}x{wanted.height}",
                )
            )
    return findings


def decide_next_round(spec: JobSpec, finished_round: int, findings: list[Finding]) -> RoundPlan | None:
    """The job's next planned round, else a round for failed on-figure checks, within ``max_rounds``."""
    policy = spec.regeneration
    if Kind.ON_FIGURE not in spec.kind or finished_round >= policy.max_rounds:
        return None
    if finished_round < len(policy.rounds):
        planned = policy.rounds[finished_round]
        return RoundPlan(
            image_types=list(planned.image_types),
            number_of_generations=planned.number_of_generations,
            reason=f"round {finished_round + 1} of the job's regeneration plan",
        )
    failed = sorted({f.image_type for f in findings if f.kind == Kind.ON_FIGURE.value})
    if policy.auto_regenerate_failed_checks and failed:
        return RoundPlan(
            image_types=[
                OnFigureImageType.model_validate(image_type_from_label(t, Kind.ON_FIGURE)) for t in failed
            ],
            number_of_generations=None,
            reason="results failed checks: "
            + "; ".join(f.message for f in findings if f.kind == "on_figure"),
        )
    return None
