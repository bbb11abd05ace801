"""Memory planning: lifetimes, execution orders, offsets and the memplan.json contract."""

from hardtool.memplan.contract import PlanError, check_plan
from hardtool.memplan.plan import Plan, PlanOptions, plan_file, plan_graph, to_json

__all__ = [
    "Plan",
    "PlanOptions",
    "PlanError",
    "check_plan",
    "plan_file",
    "plan_graph",
    "to_json",
]
