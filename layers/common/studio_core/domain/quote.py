"""What a request will cost at Aiuta, before anything is paid: operations and images.

Aiuta bills per operation; what a store watches is images. A job asks for one operation per kind
(``image types x generations`` images each) plus one per planned regeneration round; a
regeneration request is one operation. Rounds that finalize adds when a result check fails
(``auto_regenerate_failed_checks``) cannot be known in advance: the quote names them as an upper
bound (``may_add_images``) and the budget is charged when such a round is started.
"""

from __future__ import annotations

from studio_core.domain.base import Model
from studio_core.domain.jobs import JobSpec
from studio_core.domain.vocabulary import Kind


class Cost(Model):
    """Operations created at Aiuta and the images they ask for."""

    operations: int = 0
    images: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(operations=self.operations + other.operations, images=self.images + other.images)


class Quote(Cost):
    """A request's price before it runs; ``may_add_images``: the most that automatic regeneration
    rounds after failed checks could add (charged only if they run)."""

    may_add_images: int = 0


def job_quote(spec: JobSpec) -> Quote:
    """One operation per kind, then each planned round; automatic rounds as an upper bound."""
    images = sum(len(spec.types_for(kind)) * spec.number_of_generations for kind in spec.kind)
    operations = len(spec.kind)
    for planned in spec.regeneration.rounds:
        operations += 1
        images += len(planned.image_types) * (planned.number_of_generations or spec.number_of_generations)
    may_add = 0
    if Kind.ON_FIGURE in spec.kind and spec.regeneration.auto_regenerate_failed_checks:
        spare_rounds = max(0, spec.regeneration.max_rounds - len(spec.regeneration.rounds))
        may_add = spare_rounds * len(spec.types_for(Kind.ON_FIGURE)) * spec.number_of_generations
    return Quote(operations=operations, images=images, may_add_images=may_add)


def round_cost(image_type_count: int, number_of_generations: int) -> Cost:
    """One regeneration round (or a requested one): one operation."""
    return Cost(operations=1, images=image_type_count * number_of_generations)
