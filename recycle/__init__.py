"""recycle: Selective Reflection-Tuning as a distributed Ray application."""

__version__ = "0.1.0"
