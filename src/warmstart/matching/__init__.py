"""Matching: pair target variables with checkpoint entries and decide what to do with each.

Pure Python, no TensorFlow: entries and rules in, a :class:`~warmstart.plan.Plan` out.
:mod:`.pairing` pairs, :mod:`.decide` decides each pair, :mod:`.usage` names the rules that
did nothing, :mod:`.slots` lets optimizer slots follow their variables, :mod:`.state` decides
the optimizer's other variables (the step's companions carried with it).
"""

from .decide import SAFE_CASTS, cast_action
from .planner import make_plan
from .slots import find_step_counter, plan_slots
from .state import plan_state

__all__ = ["SAFE_CASTS", "cast_action", "find_step_counter", "make_plan", "plan_slots", "plan_state"]
