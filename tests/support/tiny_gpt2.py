"""A tiny GPT-2 for the small-scorer tests: another architecture than the tiny Llama students.

Superfiltering (arXiv 2402.00530) scores IFD with GPT-2 and no template (`student.template=none`);
this builds a random-init GPT-2 sized to one of the test tokenizers (typically the one without a
bos or pad token, as GPT-2's own has neither apart from <|endoftext|>), saved with the tokenizer
in one from_pretrained folder. Idempotent, like the builders of recycle.testing.tiny_student.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_gpt2(
    root: Path,
    tokenizer_dir: Path,
    layers: int = 1,
    hidden: int = 32,
    heads: int = 2,
    positions: int = 1024,
    seed: int = 1,
) -> Path:
    """A random-init GPT2LMHeadModel with its tokenizer, in `root/gpt2_...`."""
    out = Path(root) / f"gpt2_l{layers}_h{hidden}_s{seed}_{Path(tokenizer_dir).name}"
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=positions,
        n_embd=hidden,
        n_layer=layers,
        n_head=heads,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
