"""eval.controls where the kept set is the whole usable input (plain reflection): nothing is
fine-tuned and the verdict says controls do not apply."""

from __future__ import annotations

import json

from recycle.commands import eval_controls
from recycle.config import load_config


def test_controls_do_not_apply_when_everything_was_kept(tmp_path, monkeypatch):
    (tmp_path / "manifest.json").write_text(json.dumps({"counts": {"kept": 3}}))
    rows = [{"sample_id": f"s{i}", "raw": "{}", "length": i} for i in range(3)]
    monkeypatch.setattr(eval_controls, "usable_rows", lambda cfg: rows)

    def nothing(cfg):
        raise AssertionError("nothing is fine-tuned or judged when controls do not apply")

    cfg = load_config(None, [f"output.dir={tmp_path}", "eval.baseline=base",
                             "eval.controls=[random,length]"])  # fmt: skip
    section = eval_controls.run_controls(cfg, "base-model", {"verdict": {}}, nothing, nothing)
    assert section["applies"] is False and section["size"] == section["usable"] == 3
    assert section["line"] == (
        "Controls do not apply: the kept set (3 rows) is the whole usable input (3 rows), "
        "so a subset of its size is the same data."
    )
    assert eval_controls.report_lines(section, "base-model") == [section["line"]]
