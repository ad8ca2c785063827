"""``promptc simulate``: what a workload costs on each provider, with four caching strategies.

::

    from promptc.runtime.simulate import simulate, working_day
    day = working_day(plans)                                   # plans: {name: Plan}
    for result in simulate(day, ["anthropic/claude-sonnet-4-5", "openai/gpt-5.6"], min_tokens=256):
        print(result.target, result.tallies["promptc"].cost, result.share_of_best("promptc"))

See :mod:`~promptc.runtime.simulate.workload` (workloads), :mod:`~promptc.runtime.simulate.replay`
(the replay and the strategies), :mod:`~promptc.runtime.simulate.rules` (the per-provider table),
:mod:`~promptc.runtime.simulate.best` (the theoretical best) and
:mod:`~promptc.runtime.simulate.report` (the table).
"""

from promptc.runtime.simulate.replay import STRATEGIES, Tally, TargetResult, replay, simulate, simulate_target
from promptc.runtime.simulate.workload import Turn, Workload, WorkloadError, from_trace, load_workload, working_day

__all__ = ["STRATEGIES", "Tally", "TargetResult", "Turn", "Workload", "WorkloadError", "from_trace", "load_workload",
           "replay", "simulate", "simulate_target", "working_day"]
