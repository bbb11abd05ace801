"""Memory planning: lifetimes, execution orders, offsets and the memplan.json contract."""

from hardtool.memplan.plan import Plan, PlanOptions, check_plan, plan_file, plan_graph, to_json
from hardtool.memplan.targets import TARGETS, Target, get_target

__all__ = [
    "Plan",
    "PlanOptions",
    "TARGETS",
    "Target",
    "check_plan",
    "get_target",
    "plan_file",
    "plan_graph",
    "to_json",
]
