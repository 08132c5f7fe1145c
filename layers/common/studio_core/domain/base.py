"""The base of the layer's pydantic models: each builds its validator when it is first used.

A handler validates a few of the layer's hundred models (its event, its settings, the answers of
the Aiuta calls it makes); building every one at import was 70-90 ms of each cold start
(``bench/coldstart.py``). With ``defer_build`` a model builds its schema on its first validation
or dump, so the models a function never uses are never built.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
