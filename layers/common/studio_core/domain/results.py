"""A copied round: what its checks found, how it joins the job's earlier rounds, what comes next.

Pure decisions of the "Copy results to S3" task: ``check_results`` (missing, undecodable and
wrong-size images), ``decide_next_round`` (the job's plan, or a round for failed on-figure
checks, within ``max_rounds``), ``summarise_round`` (the record's images and rounds after
this round, replacing the entries of the operations copied again when a retried copy runs) and
``shortfall`` (what of the whole job did not succeed: the reason of a PARTIAL job).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from studio_core.aiuta.requests import OnFigureImageType
from studio_core.domain.jobs import JobSpec
from studio_core.domain.progress import describe_failure, describe_status
from studio_core.domain.record import ImageRecord, RoundRecord
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import ImageType, Kind


@dataclass(frozen=True)
class Finding:
    """Something wrong with a round's images; ``image_type`` is what a regeneration would redo."""

    kind: Kind
    image_type: ImageType
    message: str


@dataclass(frozen=True)
class RoundPlan:
    image_types: list[OnFigureImageType]
    number_of_generations: int | None
    reason: str
    planned: bool = False  # in the job's plan (quoted and charged with the job), not for failed checks


@dataclass(frozen=True)
class RoundSummary:
    """The job's images and rounds once this round is in, and the next round, if any."""

    images: list[ImageRecord]
    rounds: list[RoundRecord]
    findings: list[Finding]
    next_round: RoundPlan | None


def check_results(spec: JobSpec, operations: list[OperationRef], images: list[ImageRecord]) -> list[Finding]:
    """Missing variants, undecodable images and wrong sizes, per operation of the round."""
    findings: list[Finding] = []
    per_type = Counter((image.kind, image.image_type) for image in images if image.error is None)
    for op in operations:
        for image_type in op.image_types:
            got = per_type[(op.kind, image_type)]
            if got < op.number_of_generations:
                message = f"{image_type.label}: {got} of {op.number_of_generations} images arrived"
                findings.append(Finding(op.kind, image_type, message))
    wanted = spec.output_image_size
    for image in images:
        label = image.image_type.label
        if image.error is not None:
            findings.append(Finding(image.kind, image.image_type, f"{label} v{image.variant}: {image.error}"))
        elif wanted and (image.width, image.height) != (wanted.width, wanted.height):
            message = (
                f"{label} v{image.variant} is {image.width}x{image.height}, "
                f"not the requested {wanted.width}x{wanted.height}"
            )
            findings.append(Finding(image.kind, image.image_type, message))
    return findings


def decide_next_round(
    spec: JobSpec, finished_round: int, findings: list[Finding], *, regenerable: bool = True
) -> RoundPlan | None:
    """The job's next planned round, else a round for failed on-figure checks, within ``max_rounds``.

    ``regenerable`` is False when the job has no succeeded on-figure operation to regenerate from.
    """
    policy = spec.regeneration
    if not regenerable or Kind.ON_FIGURE not in spec.kind or finished_round >= policy.max_rounds:
        return None
    if finished_round < len(policy.rounds):
        planned = policy.rounds[finished_round]
        return RoundPlan(
            image_types=list(planned.image_types),
            number_of_generations=planned.number_of_generations,
            reason=f"round {finished_round + 1} of the job's regeneration plan",
            planned=True,
        )
    on_figure = [f for f in findings if f.kind is Kind.ON_FIGURE]
    failed = sorted(
        {f.image_type for f in on_figure if isinstance(f.image_type, OnFigureImageType)}, key=_label
    )
    if policy.auto_regenerate_failed_checks and failed:
        return RoundPlan(
            image_types=failed,
            number_of_generations=None,
            reason="results failed checks: " + "; ".join(f.message for f in on_figure),
        )
    return None


def summarise_round(
    spec: JobSpec,
    round_: int,
    operations: list[OperationRef],
    copied: list[ImageRecord],
    earlier_images: list[ImageRecord],
    earlier_rounds: list[RoundRecord],
    *,
    copied_kinds: set[Kind] | None = None,
    regenerable: bool = True,
) -> RoundSummary:
    """This round's checks and entries merged into the job's record, and what comes next.

    ``operations`` are the round's succeeded operations whose images are in the bucket (copied
    now or by an earlier execution); ``copied_kinds`` the kinds copied now (default: all of
    ``operations``), whose earlier entries of this round are replaced. The round's checks run
    on all its images, so a kind copied late (``studio resume``) joins its round's findings.
    """
    replaced = copied_kinds if copied_kinds is not None else {op.kind for op in operations}
    kept = [i for i in earlier_images if not (i.round == round_ and i.kind in replaced)]
    this_round = [*(i for i in kept if i.round == round_), *copied]
    findings = check_results(spec, operations, this_round)
    images = [*kept, *copied]
    rounds = sorted(
        [
            *(r for r in earlier_rounds if r.round != round_),
            RoundRecord(round=round_, findings=[f.message for f in findings]),
        ],
        key=lambda r: r.round,
    )
    plan = decide_next_round(spec, round_, findings, regenerable=regenerable)
    return RoundSummary(images, rounds, findings, plan)


def shortfall(
    operations: list[OperationRef], images: list[ImageRecord], wanted_kinds: list[Kind] | None = None
) -> str | None:
    """What of the job did not succeed, as the reason of a PARTIAL job; None when nothing is missing.

    Kinds the job asked for that never got an operation, operations that failed (or whose create
    failed), operations still unfinished (a deadline), and generated images that could not be
    copied (an expired link, a failed download).
    """
    parts = []
    present = {op.kind for op in operations if op.round == 0}
    never = [kind.value for kind in wanted_kinds or [] if kind not in present]
    if never:
        parts.append(f"no {' or '.join(never)} operation was created (the step that creates it failed)")
    failed = [op for op in operations if op.failed]
    if failed:
        parts.append(describe_failure(failed))
    unfinished = [op for op in operations if not op.finished]
    if unfinished:
        states = ", ".join(f"{op.name} {describe_status(op)}" for op in unfinished)
        parts.append(f"not finished at Aiuta by the deadline: {states} (`studio resume` checks again)")
    lost = [i for i in images if i.key is None]
    if lost:
        shown = "; ".join(f"{i.image_type.label} v{i.variant} (round {i.round}): {i.error}" for i in lost[:3])
        more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
        parts.append(f"{len(lost)} generated image(s) could not be copied: {shown}{more}")
    return "; ".join(parts) or None


def _label(image_type: ImageType) -> str:
    return image_type.label
