"""Selection: each mode declared once (declarations.py, checked by checks.py), resolved once a run
into the plan every part that selects is handed (plan.py), and pure functions from score columns
to kept / dropped rows (rules.py, modes.py, topk.py)."""

from recycle.select.modes import select_reflected
from recycle.select.plan import SelectionPlan, plan_selection
from recycle.select.topk import select_ifd_topk

__all__ = ["SelectionPlan", "plan_selection", "select_ifd_topk", "select_reflected"]
