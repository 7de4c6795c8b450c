"""Every command's --help lists the config sections; `recycle config show` explains every key."""

import pytest
import yaml
from pydantic import BaseModel

from recycle.cli.config import describe, section_model
from recycle.cli.main import SUBCOMMANDS, main
from recycle.config import RecycleConfig


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_each_help_lists_sections_and_points_to_the_reference(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for section in RecycleConfig.model_fields:
        assert f"\n  {section} " in text, section
    assert "recycle config show" in text and "README.md#configuration-reference" in text


def _walk(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield prefix + name, model, name
        inner = section_model(field.annotation)
        if inner is not None:
            yield from _walk(inner, f"{prefix}{name}.")


def test_every_config_key_has_a_description():
    missing = [key for key, model, name in _walk(RecycleConfig) if not describe(model, name)]
    assert missing == []


def test_config_show_prints_resolved_values_with_descriptions(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("teacher:\n  model: gpt-4o\n")
    assert main(["config", "show", str(cfg), "teacher.chars_per_token=2.5", "data.limit=7"]) == 0
    text = capsys.readouterr().out
    tree = yaml.safe_load(text)  # the output is itself a usable config
    assert tree["teacher"]["model"] == "gpt-4o" and tree["data"]["limit"] == 7
    assert tree["teacher"]["chars_per_token"] == 2.5
    assert "  # Teacher model name as the endpoint knows it.\n  model: gpt-4o\n" in text
    assert RecycleConfig.model_validate(tree).teacher.model == "gpt-4o"


def test_config_show_names_a_typo(capsys):
    assert main(["config", "show", "teacher.modle=x"]) == 2
    assert "did you mean 'teacher.model'" in capsys.readouterr().err
