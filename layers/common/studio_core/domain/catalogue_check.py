"""A catalogue's rows checked and quoted before anything is paid.

Every row is decided in file order, in one pass, so the outcome never depends on which row a
parallel worker reached first:

1. ``validate_rows``: each row becomes a job (or is rejected with its reason); a product listed
   again (ids compare without case) belongs to its first row, the later row is rejected.
2. ``decide_rows``: against what the pipeline already knows (the products' first spellings, the
   latest job of each row's work), each row is ``new``, ``changed``, ``unchanged`` (a job already
   made its images: nothing runs), ``forced``, ``retry`` (its last job failed) or ``rejected``;
   rows past the catalogue's image limit are ``over_budget``.
3. ``refuse_over_budget``: rows the day's budget cannot take are ``over_budget`` too.

``quote`` sums it up: what will be paid (operations and images, per row and in all) before any
job starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from studio_core.domain.budget import fit_in_order, over_budget_reason
from studio_core.domain.catalogue import CatalogueRow
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import (
    Novelty,
    WorkIdentity,
    decide,
    job_identity,
    product_key,
    rejection_id,
    spelling_conflict,
)
from studio_core.domain.jobs import JobDefaults, JobSpec, build_job
from studio_core.domain.keys import product_id_problem
from studio_core.domain.quote import Quote, job_quote
from studio_core.domain.record import JobRecord


class RowOutcome(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FORCED = "forced"
    RETRY = "retry"
    REJECTED = "rejected"
    OVER_BUDGET = "over_budget"

    @property
    def runs(self) -> bool:
        return self in RUNS


RUNS = frozenset({RowOutcome.NEW, RowOutcome.CHANGED, RowOutcome.FORCED, RowOutcome.RETRY})


@dataclass(frozen=True)
class RowPlan:
    """What one row of the catalogue becomes."""

    line: int
    product_id: str | None
    outcome: RowOutcome
    job_id: str | None = None  # the job it runs as, or (unchanged) the job that did its work
    reason: str | None = None  # why a row is rejected or over budget
    spec: JobSpec | None = None
    identity: WorkIdentity | None = None
    prior_job_id: str | None = None
    quote: Quote = field(default_factory=Quote)

    def document(self) -> dict[str, Any]:
        """The row as the reports show it."""
        row: dict[str, Any] = {"row": self.line, "product_id": self.product_id, "outcome": self.outcome.value}
        if self.job_id:
            row["job_id"] = self.job_id
        if self.reason:
            row["reason"] = self.reason
        if self.outcome.runs:
            row["operations"], row["images"] = self.quote.operations, self.quote.images
        return row


def validate_rows(
    rows: Sequence[CatalogueRow],
    defaults: JobDefaults,
    *,
    key: str,
    version: str,
    allow_private_image_urls: bool = False,
) -> list[RowPlan]:
    """Each row as a job with its work's identity, or rejected; a product's later rows rejected."""
    plans: list[RowPlan] = []
    first_row: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row.problem or row.product_id is None or row.document is None:
            plans.append(
                _rejected(
                    row.line, row.product_id, row.problem or f"line {row.line}: no product id", key, version
                )
            )
            continue
        product_id = row.product_id
        if problem := product_id_problem(product_id):
            # Named as written in the report; no record (an id that is no product id names none).
            plans.append(
                RowPlan(row.line, product_id, RowOutcome.REJECTED, reason=f"line {row.line}: {problem}")
            )
            continue
        earlier = first_row.get(product_key(product_id))
        if earlier is not None:
            line, spelling = earlier
            written = "" if spelling == product_id else f" as {spelling!r}"
            reason = (
                f"line {row.line}: product {product_id} is listed again (first at line {line}{written}); "
                "a catalogue runs one job per product"
            )
            # No record of its own: the product's job is its first row's.
            plans.append(RowPlan(row.line, product_id, RowOutcome.REJECTED, reason=reason))
            continue
        first_row[product_key(product_id)] = (row.line, product_id)
        try:
            spec = build_job(
                product_id,
                row.document,
                image_count=0,
                defaults=defaults,
                allow_private_image_urls=allow_private_image_urls,
            )
        except InvalidJob as exc:
            plans.append(
                _rejected(row.line, product_id, f"line {row.line} ({product_id}): {exc}", key, version)
            )
            continue
        plans.append(
            RowPlan(
                row.line,
                product_id,
                RowOutcome.NEW,
                spec=spec,
                identity=job_identity(product_id, spec),
                quote=job_quote(spec),
            )
        )
    return plans


def _rejected(line: int, product_id: str | None, reason: str, key: str, version: str) -> RowPlan:
    job_id = rejection_id(product_id, key, version, str(line)) if product_id else None
    return RowPlan(line, product_id, RowOutcome.REJECTED, job_id=job_id, reason=reason)


def decide_rows(
    plans: Sequence[RowPlan],
    *,
    key: str,
    version: str,
    spellings: Mapping[str, str],
    priors: Mapping[str, JobRecord | None],
    images_per_catalogue: int,
    force_all: bool = False,
) -> list[RowPlan]:
    """Each valid row decided against the work already done; rows past the catalogue's image limit
    (``images_per_catalogue``, 0: none) are over budget, in file order. ``force_all``: the upload
    asked for a new generation of every row (``x-amz-meta-force``)."""
    decided: list[RowPlan] = []
    for plan in plans:
        if plan.identity is None or plan.product_id is None:
            decided.append(plan)
            continue
        spelling = spellings.get(product_key(plan.product_id))
        if spelling is not None and spelling != plan.product_id:
            reason = f"line {plan.line}: {spelling_conflict(plan.product_id, spelling)}"
            decided.append(_rejected(plan.line, plan.product_id, reason, key, version))
            continue
        force = force_all or bool(plan.spec and plan.spec.force)
        prior = priors.get(plan.identity.job_id)
        decision = decide(
            plan.identity, prior, asked_by=version, product_known=spelling is not None, force=force
        )
        novelty = decision.novelty
        if novelty is Novelty.DUPLICATE:  # this very version started it: the same row, checked again
            novelty = Novelty(prior.novelty) if prior is not None and prior.novelty else Novelty.NEW
        decided.append(
            replace(
                plan,
                outcome=RowOutcome(novelty.value),
                job_id=decision.job_id,
                prior_job_id=decision.prior_job_id,
            )
        )
    if images_per_catalogue > 0:
        return refuse_over_budget(
            decided,
            images_per_catalogue,
            used=0,
            scope="this catalogue",
            parameter="ImagesPerCatalogueLimit",
        )
    return decided


def refuse_over_budget(
    plans: Sequence[RowPlan], room: int, *, used: int, scope: str, parameter: str
) -> list[RowPlan]:
    """The rows that run, taken in file order while they fit ``room`` images; the rest over budget."""
    running = [i for i, plan in enumerate(plans) if plan.outcome.runs]
    fit = fit_in_order([plans[i].quote.images for i in running], room)
    refused = {running[i] for i in fit.refused}
    limit = room + used
    return [
        replace(
            plan,
            outcome=RowOutcome.OVER_BUDGET,
            job_id=rejection_id(plan.product_id or "", "over budget", plan.job_id or ""),
            reason=f"line {plan.line} ({plan.product_id}): "
            + over_budget_reason(
                plan.quote.images,
                limit=limit,
                used=used + _taken_before(plans, i, refused),
                scope=scope,
                parameter=parameter,
            ),
        )
        if i in refused
        else plan
        for i, plan in enumerate(plans)
    ]


def _taken_before(plans: Sequence[RowPlan], index: int, refused: set[int]) -> int:
    return sum(p.quote.images for i, p in enumerate(plans[:index]) if p.outcome.runs and i not in refused)


def quote(plans: Sequence[RowPlan]) -> dict[str, Any]:
    """What the catalogue will pay, before anything is: rows by outcome, operations and images."""
    running = [plan for plan in plans if plan.outcome.runs]
    counts = {outcome.value: 0 for outcome in RowOutcome}
    for plan in plans:
        counts[plan.outcome.value] += 1
    return {
        "rows": len(plans),
        **counts,
        "operations": sum(plan.quote.operations for plan in running),
        "images": sum(plan.quote.images for plan in running),
        "may_add_images": sum(plan.quote.may_add_images for plan in running),
    }
