"""Selection: pure functions from score columns to kept / dropped rows (modes.py, topk.py)."""

from recycle.select.modes import select_reflected
from recycle.select.topk import select_ifd_topk

__all__ = ["select_ifd_topk", "select_reflected"]
