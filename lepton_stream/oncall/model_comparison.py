"""The champion/challenger comparison in the alert monitor: `scores` and
`fraud-labels` followed by a thread (lepton_stream/models/compare.py), the gauges
refreshed every few seconds, and `/models` (JSON) with the roles and the figures."""

from __future__ import annotations

import asyncio

import faust

from lepton_stream.config import Settings
from lepton_stream.jsonout import finite
from lepton_stream.models import roles
from lepton_stream.models.compare import Comparison, LiveComparison

REFRESH_S = 5.0


def add_model_comparison(app: faust.App, s: Settings) -> None:
    live = LiveComparison(s)
    last: list[Comparison] = []

    @app.task
    async def follow_models() -> None:
        live.start()

    @app.timer(interval=REFRESH_S)
    async def compare_models() -> None:
        # AUC and AP over up to compare_max_events: off the event loop.
        last[:] = [await asyncio.get_running_loop().run_in_executor(None, live.refresh)]

    @app.page("/models")
    async def models(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        current = roles.read_roles(s.endpoints.model_repo)
        return web.json({"roles": finite(current.__dict__) if current else None,
                         "comparison": finite(last[0].to_dict()) if last else None,
                         "refresh_s": REFRESH_S})
