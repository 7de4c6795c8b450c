"""Selection: each mode declared once (declarations.py, checked by checks.py), and pure functions
from score columns to kept / dropped rows (rules.py, modes.py, topk.py)."""

from recycle.select.modes import select_reflected
from recycle.select.topk import select_ifd_topk

__all__ = ["select_ifd_topk", "select_reflected"]
