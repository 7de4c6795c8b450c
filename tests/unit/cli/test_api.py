"""recycle.api: the commands as functions through the one entry; typed errors, not exit codes;
the caller's config copied, never changed."""

from __future__ import annotations

import pytest

from recycle import api
from recycle.config import load_config
from recycle.errors import ConfigError
from recycle.preflight import PreflightError

MANIFEST = {
    "counts": {"input": 3, "kept": 1, "dropped": {}, "rejected": {}, "retry": {"budget": 2}}
}


def test_a_bad_input_raises_the_pre_flight_error(tmp_path):
    with pytest.raises(PreflightError, match="nope.jsonl' does not exist"):
        api.run(None, [f"data.input='{tmp_path / 'nope.jsonl'}'", f"output.dir='{tmp_path}'"])


def test_overrides_with_a_config_object_are_refused():
    with pytest.raises(ConfigError, match="overrides apply to a YAML file"):
        api.validate(load_config(None), ["data.limit=3"])


def test_a_config_object_is_copied_and_the_result_returned(tmp_path, monkeypatch):
    seen = {}

    def run_pipeline(cfg, preflight=True):
        seen.update(cfg=cfg, policy=preflight)
        return MANIFEST

    monkeypatch.setattr("recycle.commands.pipeline.run_pipeline", run_pipeline)
    cfg = load_config(None, [f"output.dir='{tmp_path}'", "teacher.model=not-served"])
    manifest = api.run(cfg, preflight=False, quiet=True)
    assert manifest is MANIFEST and api.left_for_rerun(manifest) == 2  # exit 3's case, returned
    assert seen["cfg"].ray.quiet is True and cfg.ray.quiet is False  # a copy; the caller's as given
    assert seen["policy"].enabled is False  # and the policy nested runs inherit
    assert (tmp_path / "logs" / "recycle.log").is_file()  # the run log, as from the CLI


def test_generate_and_judge_take_their_options_as_the_command_line_does(tmp_path, monkeypatch):
    # `name` (the answers' name) is one of generate's options, beside the command's own name
    missing = tmp_path / "no-model"
    with pytest.raises(PreflightError, match="no-model"):
        api.generate(str(missing), str(tmp_path / "answers"), name="mine")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # both reach their pre-flight checks
    with pytest.raises(PreflightError, match="OPENAI_API_KEY is not set"):
        api.judge(str(tmp_path / "no-answers"), str(tmp_path / "b"), str(tmp_path / "judged"))
