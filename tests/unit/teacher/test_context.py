"""The context window follows what the server reports for the model (vLLM's max_model_len)."""

from __future__ import annotations

import pytest

from recycle.errors import ConfigError
from recycle.teacher.context import fit_context, reported_context

from .conftest import teacher_config


@pytest.mark.integration  # the local teacher server
def test_the_servers_context_lowers_the_configured_one(make_server) -> None:
    server = make_server(max_model_len=512)
    cfg = teacher_config(server, max_tokens=128)
    assert reported_context(cfg) == 512
    assert fit_context(cfg).context_window == 512
    assert (
        fit_context(teacher_config(server, max_tokens=128, context_window=300)).context_window
        == 300
    )
    with pytest.raises(ConfigError, match="context of 512 tokens; teacher.max_tokens=600"):
        fit_context(teacher_config(server, max_tokens=600))


@pytest.mark.integration  # the local teacher server
def test_a_server_that_does_not_report_it_changes_nothing(make_server) -> None:
    cfg = teacher_config(make_server())
    assert reported_context(cfg) is None and fit_context(cfg) is cfg
    assert reported_context(cfg.model_copy(update={"model": "other"})) is None
