"""Each benchmark scenario runs once with tiny sizes, so that ``benchmarks/`` cannot rot.

The numbers mean nothing at these sizes; what counts is that every scenario runs
to the end and that its checks pass (hits were hits, bodies byte for byte right,
no errors). requests-cache and CacheControl come with the ``test`` extra; httpie,
which only the start-up scenario uses, is left out of that row when missing.
"""

from __future__ import annotations

import pytest

from benchmarks.__main__ import SCENARIOS, run_all


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_runs_once(name: str) -> None:
    [result] = run_all([name], quick=True, write=False)
    assert result.rows, f"{name} reported nothing"
    assert result.goals or name == "large_body"
