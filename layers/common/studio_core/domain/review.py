"""Review: which generated images go to the shop, and what is made again (pure rules).

A job's ``review`` (``none`` | ``auto`` | ``required``) says who decides. With ``required`` the
execution waits in "Wait for review" once the images are copied, and a decision file
``review/<product>/<job>/<name>.json`` answers it::

    {"approve": {"front/standing": [2], "ghost_mannequin/front": [1]},
     "reject": {"back/walking": "hands cut off"},
     "retry": ["flat_lay"],
     "by": "ana@store.example", "note": "...", "round": 0}

- ``approve``: per image type, the images to publish, by their number on the review page (``#1``,
  ``#2``...: a type's images in order of round, then variant). A later approval of a type replaces
  the earlier one.
- ``reject``: per image type, the reason. A rejected on-figure type is regenerated with the same
  model (a regeneration round, the seed's step 4); a rejected flat-lay type gets a new flat-lay
  operation. The new images come back to review beside the old ones.
- ``retry``: kinds whose types have no image (their operation failed): a new operation for them
  (on-figure ones as a regeneration when an on-figure operation succeeded, else a new operation).
- ``round``: the review it answers (default: the one the job waits on), so a decision written for
  images that have since changed is refused rather than misread.

A decision that asks for new images costs what its quote says (``decision_quote``) and is charged
to the day's image budget before anything is created; a decision that asks for none publishes the
approved images and ends the job. ``review: auto`` is a decision the result checks take: every
image that passed them (``automatic_decision``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator

from studio_core.domain.base import Model
from studio_core.domain.errors import InvalidDecision
from studio_core.domain.jobs import describe_validation_error, parse_json_document
from studio_core.domain.quote import Cost
from studio_core.domain.record import (
    ApprovedImage,
    ImageRecord,
    JobRecord,
    ReviewDecisionRecord,
)
from studio_core.domain.results import shortfall
from studio_core.domain.state import NewOperation, OperationRef
from studio_core.domain.vocabulary import ImageType, Kind, image_type_from_label

AUTOMATIC_REVIEWER = "the result checks (review: auto)"
MAX_NOTE_CHARS = 500
MAX_REASON_CHARS = 200
# The reasons the review page offers (a decision may give any other).
REJECTION_REASONS = (
    "hands or fingers wrong",
    "face or body distorted",
    "garment changed (colour, print, shape)",
    "garment cut off or cropped",
    "wrong pose or viewpoint",
    "background or lighting wrong",
    "artefacts or blur",
)


class ReviewState(StrEnum):
    """Where a job's review is (the record's ``review_state``)."""

    WAITING = "waiting"  # the execution waits for a decision
    REGENERATING = "regenerating"  # a decision asked for new images; they come back to review
    PUBLISHED = "published"  # the approved images are in published/
    EXPIRED = "expired"  # nobody decided by the deadline: nothing was published


class DecisionFile(Model):
    """A decision as written under ``review/``: strict, so a typo is named, never ignored."""

    model_config = ConfigDict(extra="forbid")

    job_id: str | None = None
    round: int | None = Field(default=None, ge=0)
    by: str | None = Field(default=None, max_length=200)
    approve: dict[str, list[int]] = Field(default_factory=dict)
    reject: dict[str, str] = Field(default_factory=dict)
    retry: list[Kind] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)

    @field_validator("approve", mode="before")
    @classmethod
    def _one_number_or_a_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {label: [n] if isinstance(n, int) else n for label, n in value.items()}
        return value

    @field_validator("reject")
    @classmethod
    def _reasons_are_given(cls, value: dict[str, str]) -> dict[str, str]:
        for label, reason in value.items():
            if not reason.strip():
                raise ValueError(f"give a reason for rejecting {label!r} (e.g. 'hands cut off')")
            if len(reason) > MAX_REASON_CHARS:
                raise ValueError(f"the reason for {label!r} is longer than {MAX_REASON_CHARS} characters")
        return {label: reason.strip() for label, reason in value.items()}

    def canonical(self) -> dict[str, Any]:
        """What the decision says, in a canonical form (what makes two decisions the same)."""
        return {
            "approve": {label: sorted(set(numbers)) for label, numbers in sorted(self.approve.items())},
            "reject": dict(sorted(self.reject.items())),
            "retry": sorted({kind.value for kind in self.retry}),
        }

    @property
    def is_empty(self) -> bool:
        return not (self.approve or self.reject or self.retry)


def parse_decision_file(raw: bytes, key: str) -> DecisionFile:
    document = parse_json_document(raw, key)
    if not isinstance(document, dict):
        raise InvalidDecision(f'{key} must be a JSON object, like {{"approve": {{"front/standing": [1]}}}}')
    try:
        decision = DecisionFile.model_validate(document)
    except ValidationError as exc:
        raise InvalidDecision(
            f"{key} is not a review decision: " + "; ".join(describe_validation_error(exc))
        ) from None
    if decision.is_empty:
        raise InvalidDecision(f"{key} decides nothing: give approve, reject or retry")
    return decision


# --- a job's images as the review shows them ----------------------------------------------------


def job_image_types(record: JobRecord) -> dict[str, Kind]:
    """Every image type of the job (asked for, or made by a later round), label -> kind, in order."""
    found: dict[str, Kind] = {}
    if record.job is not None:
        for kind in record.job.kind:
            for image_type in record.job.types_for(kind):
                found.setdefault(image_type.label, kind)
    for op in sorted(record.operations, key=lambda op: op.round):
        for image_type in op.image_types:
            found.setdefault(image_type.label, op.kind)
    for image in record.images:
        found.setdefault(image.image_type.label, image.kind)
    return found


def numbered_images(record: JobRecord, label: str) -> list[tuple[int, ImageRecord]]:
    """A type's images, numbered as the review page shows them: 1, 2... by round, then variant."""
    of_type = sorted(
        (image for image in record.images if image.image_type.label == label),
        key=lambda image: (image.round, image.variant),
    )
    return list(enumerate(of_type, start=1))


def labels_without_images(record: JobRecord, kind: Kind) -> list[str]:
    """The job's types of ``kind`` that have no image in the bucket (their operation failed)."""
    return [
        label
        for label, of_kind in job_image_types(record).items()
        if of_kind is kind and not any(image.key for _, image in numbered_images(record, label))
    ]


# --- resolving a decision against its job -------------------------------------------------------


def plan_decision(
    decision: DecisionFile,
    record: JobRecord,
    *,
    rounds_limit: int,
    decision_id: str,
    by: str,
    at: str,
    source: str | None = None,
    late: bool = False,
) -> ReviewDecisionRecord:
    """The decision resolved against the job: the images it approves, the types made again and what
    that costs; raises ``InvalidDecision`` naming every problem. ``late``: the job has ended, so only
    approvals can apply (nothing is made again)."""
    problems: list[str] = []
    types = job_image_types(record)
    generations = record.job.number_of_generations if record.job is not None else 1
    approved: list[ApprovedImage] = []
    for label, numbers in decision.approve.items():
        if label not in types:
            problems.append(_unknown_type(label, types))
            continue
        if label in decision.reject:
            problems.append(f"{label} is both approved and rejected: choose one")
            continue
        images = dict(numbered_images(record, label))
        for number in sorted(set(numbers)):
            image = images.get(number)
            if image is None or image.key is None:
                have = ", ".join(f"#{n}" for n, i in images.items() if i.key) or "none"
                problems.append(f"{label} has no image #{number} to approve (it has {have})")
                continue
            approved.append(
                ApprovedImage(
                    kind=image.kind,
                    image_type=image.image_type,
                    round=image.round,
                    variant=image.variant,
                    key=image.key,
                )
            )
    regenerate: list[ImageType] = []
    again: dict[Kind, list[ImageType]] = {Kind.ON_FIGURE: [], Kind.FLAT_LAY: []}
    for label in decision.reject:
        if label not in types:
            problems.append(_unknown_type(label, types))
            continue
        again[types[label]].append(image_type_from_label(label))
    for kind in decision.retry:
        missing = labels_without_images(record, kind)
        if not missing:
            problems.append(f"retry {kind.value}: every {kind.value} type has images (reject one to redo it)")
        for label in missing:
            if label not in decision.reject:
                again[kind].append(image_type_from_label(label))
    new_operations: list[NewOperation] = []
    regenerable = any(op.kind is Kind.ON_FIGURE and op.succeeded for op in record.operations)
    if again[Kind.ON_FIGURE]:
        if regenerable:
            regenerate = again[Kind.ON_FIGURE]  # the same model: a regeneration round
        else:
            new_operations.append(NewOperation(kind=Kind.ON_FIGURE, image_types=again[Kind.ON_FIGURE]))
    if again[Kind.FLAT_LAY]:
        new_operations.append(NewOperation(kind=Kind.FLAT_LAY, image_types=again[Kind.FLAT_LAY]))
    asks_for_images = bool(regenerate or new_operations)
    if asks_for_images and late:
        problems.append(
            "the job has ended, so nothing can be made again in it: approve its images, or ask "
            "for new ones with `studio regenerate` (on-figure) or by submitting the product again"
        )
    next_round = max((op.round for op in record.operations), default=0) + 1
    if asks_for_images and not late and next_round > rounds_limit:
        problems.append(
            f"the job has had {next_round - 1} round(s) and may have {rounds_limit} (its "
            "regeneration.max_rounds, at most the template's MaxRegenerationRounds): approve what "
            "is there, or submit the product again with a higher max_rounds"
        )
    if problems:
        raise InvalidDecision("the decision cannot be applied: " + "; ".join(problems))
    return ReviewDecisionRecord(
        decision_id=decision_id,
        by=by,
        at=at,
        round=record.review_round if record.review_round is not None else record.round,
        source=source,
        approve={label: sorted(set(numbers)) for label, numbers in decision.approve.items()},
        reject=dict(decision.reject),
        retry=list(dict.fromkeys(decision.retry)),
        note=decision.note,
        approved=approved,
        regenerate=regenerate,
        new_operations=new_operations,
        quote=decision_quote(regenerate, new_operations, generations),
        late=late,
    )


def decision_quote(
    regenerate: Iterable[ImageType], new_operations: Iterable[NewOperation], generations: int
) -> Cost:
    """What a decision costs at Aiuta: one operation per regeneration round or new operation,
    each with its types x the job's generations."""
    cost = Cost()
    regenerated = list(regenerate)
    if regenerated:
        cost += Cost(operations=1, images=len(regenerated) * generations)
    for op in new_operations:
        cost += Cost(operations=1, images=len(op.image_types) * generations)
    return cost


def _unknown_type(label: str, types: dict[str, Kind]) -> str:
    return f"{label!r} is not an image type of this job (it has {', '.join(types) or 'none'})"


def automatic_decision(record: JobRecord, *, decision_id: str, at: str) -> ReviewDecisionRecord:
    """``review: auto``: every copied image that passed the result checks is approved."""
    approve: dict[str, list[int]] = {}
    approved: list[ApprovedImage] = []
    for label in job_image_types(record):
        for number, image in numbered_images(record, label):
            if image.key is not None and image.error is None:
                approve.setdefault(label, []).append(number)
                approved.append(
                    ApprovedImage(
                        kind=image.kind,
                        image_type=image.image_type,
                        round=image.round,
                        variant=image.variant,
                        key=image.key,
                    )
                )
    return ReviewDecisionRecord(
        decision_id=decision_id,
        by=AUTOMATIC_REVIEWER,
        at=at,
        round=record.round,
        automatic=True,
        approve=approve,
        approved=approved,
    )


def approvals_after(current: list[ApprovedImage], decision: ReviewDecisionRecord) -> list[ApprovedImage]:
    """The job's approvals once ``decision`` applies: a type it approves is replaced, a type it
    rejects is no longer approved (new images come), the others stay."""
    decided = set(decision.approve) | set(decision.reject)
    kept = [image for image in current if image.image_type.label not in decided]
    return [*kept, *decision.approved]


def pending_labels(record: JobRecord) -> list[str]:
    """The types with images that no decision has approved yet (what the review page still asks)."""
    approved = {image.image_type.label for image in record.approved_images}
    return [
        label
        for label in job_image_types(record)
        if label not in approved and any(image.key for _, image in numbered_images(record, label))
    ]


# --- how a reviewed job ends ----------------------------------------------------------------------


def superseded(operations: list[OperationRef]) -> list[OperationRef]:
    """Failed operations whose every type a later operation of the same kind made again."""
    made = [(op.kind, t.label, op.round) for op in operations if op.succeeded for t in op.image_types]

    def redone(op: OperationRef) -> bool:
        return all(
            any(kind is op.kind and label == t.label and made_in > op.round for kind, label, made_in in made)
            for t in op.image_types
        )

    return [op for op in operations if op.failed and op.image_types and redone(op)]


def review_shortfall(
    operations: list[OperationRef], images: list[ImageRecord], wanted_kinds: list[Kind] | None
) -> str | None:
    """What of a reviewed job did not succeed (the reason of a PARTIAL end), a failed operation
    that a review's retry made again not counting."""
    replaced = {id(op) for op in superseded(operations)}
    counted = [op for op in operations if id(op) not in replaced]
    created = {op.kind for op in operations if op.round == 0}
    still = {op.kind for op in counted if op.round == 0}
    # A kind whose first operation was made again is not "never created".
    wanted = [kind for kind in wanted_kinds or [] if kind not in created or kind in still]
    return shortfall(counted, images, wanted)


def describe_decision(decision: ReviewDecisionRecord) -> str:
    """One line a person reads: ``approved 2 image(s) of 2 type(s); regenerates back/walking``."""
    parts = []
    if decision.approved:
        types = {image.image_type.label for image in decision.approved}
        parts.append(f"approved {len(decision.approved)} image(s) of {len(types)} type(s)")
    if decision.regenerate:
        parts.append("regenerates " + ", ".join(t.label for t in decision.regenerate))
    for op in decision.new_operations:
        parts.append(f"a new {op.kind.value} operation for " + ", ".join(t.label for t in op.image_types))
    if decision.reject:
        parts.append("rejected " + "; ".join(f"{label}: {why}" for label, why in decision.reject.items()))
    return "; ".join(parts) or "decided nothing"
