"""The teacher stage: reflection on instructions and responses through any OpenAI-compatible endpoint.

    from recycle.teacher import ReflectInstruction, ReflectResponse     # Ray Data stages
    from recycle.teacher import reflect_instruction, reflect_response   # dataset -> dataset helpers
    from recycle.teacher import TeacherClient, Reflector                # async core

The scripted local server for tests and the demo is in recycle.testing.

Names are imported on first use, so importing a submodule (say, the parser) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReflectInstruction": "recycle.teacher.stages",
    "ReflectResponse": "recycle.teacher.stages",
    "reflect_instruction": "recycle.teacher.stages",
    "reflect_response": "recycle.teacher.stages",
    "TeacherClient": "recycle.teacher.client",
    "Reflector": "recycle.teacher.core",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recycle.teacher' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
