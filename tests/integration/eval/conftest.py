"""Fixtures of the evaluation tests: the tiny offline students."""

from tests.support.fixtures import *  # noqa: F403
