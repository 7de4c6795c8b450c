from recycle.config import load_config, redacted
from recycle.config.load import scrub_secrets


def test_numbers_named_like_tokens_are_not_redacted():
    out = redacted(load_config(None, ["teacher.chars_per_token=2.5"]))
    assert out["teacher"]["chars_per_token"] == 2.5
    assert out["teacher"]["api_key_env"] == "OPENAI_API_KEY"  # the variable's name, not a secret


def test_text_under_secret_names_is_redacted():
    tree = {"a": {"api_key": "sk-1", "hf_token": "hf_x", "password": "p", "max_tokens": 5}}
    assert scrub_secrets(tree) == {
        "a": {
            "api_key": "<redacted>",
            "hf_token": "<redacted>",
            "password": "<redacted>",
            "max_tokens": 5,
        }
    }
