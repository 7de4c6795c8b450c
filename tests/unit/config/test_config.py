from pathlib import Path

import pytest

from recycle.config import RecycleConfig, load_config, redacted
from recycle.config.load import apply_overrides
from recycle.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def test_defaults_are_the_papers():
    cfg = RecycleConfig()
    assert cfg.teacher.api_key_env == "OPENAI_API_KEY"
    assert (cfg.teacher.temperature, cfg.teacher.top_p, cfg.teacher.max_tokens) == (0.0, 1.0, 2048)
    assert cfg.student.template == "vicuna" and cfg.student.max_length == 2048
    assert cfg.selection.mode == "selective"
    assert cfg.selection.require_response_reflected and cfg.selection.require_ifd_below_one
    assert cfg.selection.require_rifd_below_one


def test_dotted_overrides_are_typed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("teacher:\n  model: gpt-4o\nstudent:\n  max_length: 1024\n")
    cfg = load_config(f, ["student.model=/models/llama", "student.max_length=512", "data.limit=10"])
    assert cfg.teacher.model == "gpt-4o"
    assert cfg.student.model == "/models/llama"
    assert cfg.student.max_length == 512 and cfg.data.limit == 10


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'teacher.modle'.*did you mean 'teacher.model'"
    ):
        load_config(None, ["teacher.modle=gpt-4o"])


def test_unknown_section_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'teachr'.*did you mean 'teacher'"):
        load_config(None, ["teachr.model=x"])


def test_bad_value_names_the_key():
    with pytest.raises(ConfigError, match=r"'student.max_length'"):
        load_config(None, ["student.max_length=lots"])


def test_an_unknown_mode_is_refused_at_start_up_naming_the_key():
    from recycle.pipeline.steps import check_config

    cfg = load_config(None, ["selection.mode=best"])  # the modes are select's declarations
    with pytest.raises(ConfigError, match=r"unknown selection.mode 'best'; use one of selective"):
        check_config(cfg)


def test_malformed_override_and_missing_file():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["=3"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/cfg.yaml")


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"teacher": "x"}, ["teacher.model=y"])


def test_secrets_are_redacted():
    cfg = RecycleConfig()
    out = redacted(cfg)
    assert out["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert out["teacher"]["max_tokens"] == 2048  # "tokens" counts are not secrets
    scrubbed = __import__("recycle.config.load", fromlist=["scrub_secrets"]).scrub_secrets(
        {
            "teacher": {
                "api_key": "sk-live-123",
                "api_key_env": "X",
                "hf_token": "hf_x",
                "tokens_per_minute": 5,
            }
        }
    )
    assert scrubbed == {
        "teacher": {
            "api_key": "<redacted>",
            "api_key_env": "X",
            "hf_token": "<redacted>",
            "tokens_per_minute": 5,
        }
    }


SHIPPED = sorted((REPO / "jobs" / "configs").glob("*.yaml"))
# What a job adds on its command line, as each config's header shows (eval: the two models).
EVAL_MODELS = ["eval.model_a=/models/recycled", "eval.model_b=/models/baseline"]


def command_of(path: Path) -> str:
    """Which command a shipped config is for: fine-tuning, evaluation, or the pipeline."""
    return "train" if "finetune" in path.name else "eval" if path.stem == "evaluate" else "run"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_passes_its_commands_start_up_checks(path, tiny_model_dir):
    """Loading, then the start-up checks of the command it is for (a tiny student stands in for
    the model folder, which this machine does not have)."""
    from recycle.eval.sides import check_sides
    from recycle.pipeline.steps import check_config as check_run
    from recycle.train.finetune import check_config as check_train

    command = command_of(path)
    cfg = load_config(path, EVAL_MODELS if command == "eval" else [])
    assert cfg.student.model or command == "eval", f"{path.name} names no student"
    cfg = load_config(path, [*EVAL_MODELS, f"student.model='{tiny_model_dir}'"])
    {"train": check_train, "eval": check_sides, "run": check_run}[command](cfg)


def test_the_start_up_checks_of_a_shipped_config_can_fail(tiny_model_dir):
    from recycle.pipeline.steps import check_config as check_run
    from recycle.train.finetune import check_config as check_train

    path = REPO / "jobs" / "configs" / "alpaca_llama2_7b.yaml"
    with pytest.raises(ConfigError, match="needs selection.topk_percent or selection.topk_n"):
        check_run(load_config(path, ["selection.mode=ifd_topk"]))
    finetune = REPO / "jobs" / "configs" / "llama2_7b_finetune.yaml"
    bad = [f"student.model='{tiny_model_dir}'", "train.use_gpu=false",
           "train.attn_implementation=flash_attention_2"]  # fmt: skip
    with pytest.raises(ConfigError, match="flash_attention_2 needs train.use_gpu=true"):
        check_train(load_config(finetune, bad))
