"""A local simulator of the Aiuta Studio API: same endpoints and rules, simulated images.

Start it with ``studio-sim`` or, from Python, :func:`studio_sim.server.run_in_thread`.
"""

from studio_sim.settings import DEFAULT_API_KEY, Outcome, SimSettings

__all__ = ["DEFAULT_API_KEY", "Outcome", "SimSettings"]
