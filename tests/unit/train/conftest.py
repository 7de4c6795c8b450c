"""Fixtures of the fine-tuning unit tests: the tiny offline students."""

from tests.support.fixtures import *  # noqa: F403
