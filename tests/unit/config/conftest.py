"""Tiny students for the shipped configs' start-up checks."""

from tests.support.fixtures import *  # noqa: F403
