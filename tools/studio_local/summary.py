"""The text ``studio local up`` prints once the stack is ready."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from studio_local.resource_types import Handling

if TYPE_CHECKING:
    from studio_local.stack import LocalStudio


def render_summary(studio: LocalStudio) -> str:
    """Endpoints, resource names, the gaps closed, what is not enforced locally, and the environment."""
    stack = studio.stack
    by_type = Counter(resource.type for resource in stack.resources.values())
    by_type.update(resource.type for resource in stack.created_by_api.values())
    lines = [
        f"Studio local stack {stack.name!r} is up ({studio.timings.get('total', 0):.1f} s)",
        "",
        "Endpoints",
        f"  AWS (moto server)        {studio.endpoint_url}   region {studio.region}",
        f"  Aiuta Studio simulator   {studio.simulator_url}   (a simulator, not the real API)",
        f"  simulator admin          {studio.simulator.root_url}/_sim/",
        "",
        f"Deployed from {studio.template_path} ({sum(by_type.values())} resources)",
        f"  bucket          {studio.bucket}   (drop products under inbox/<product-id>/)",
        f"  jobs table      {studio.jobs_table}",
        f"  state machine   {studio.state_machine_arn}",
        f"  ingest queue    {studio.queue_url}",
    ]
    dead_letter = studio.dead_letter_queue_url
    if dead_letter:
        lines.append(f"  dead letters    {dead_letter}")
    lines.append(
        "  " + ", ".join(f"{count} {kind.split('::', 1)[1]}" for kind, count in sorted(by_type.items()))
    )
    lines += ["", "Closed locally (moto does not do these from the template)"]
    lines += [f"  - {gap.subject}: {gap.action}" for gap in studio.gaps]
    lines += ["", "Not enforced or not deployed locally"]
    groups: dict[tuple[str, str], list[str]] = {}
    for p in stack.plan:
        if p.handling == Handling.LEFT_OUT or "not enforced" in p.note:
            groups.setdefault((p.type, p.note), []).append(p.logical_id)
    lines += [f"  - {', '.join(ids)} ({kind}): {note}" for (kind, note), ids in groups.items()]
    lines += [
        f"  - layer {layer.arn} of {layer.function_logical_id}: not built here, its packages come "
        "from this environment"
        for layer in studio.external_layers
    ]
    if not groups and not studio.external_layers:
        lines.append("  (nothing)")
    lines += ["", "Environment (also written by --env-file)"]
    lines += [f"  {name}={value}" for name, value in studio.environment().items()]
    return "\n".join(lines) + "\n"
