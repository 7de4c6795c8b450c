"""Typed, validated configuration loaded from YAML with dotted overrides."""

from recycle.config.load import apply_overrides, load_config, redacted
from recycle.config.root import RecycleConfig

__all__ = ["RecycleConfig", "apply_overrides", "load_config", "redacted"]
