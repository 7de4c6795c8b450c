"""Tiny students built entirely offline, for the demo, the tests and the benchmarks: a byte-level BPE tokenizer
trained on given texts and a small Llama-architecture causal LM, saved with `save_pretrained` so
they load through the real `from_pretrained` path.

Every builder is idempotent: it writes into `root/<name>` and returns that folder at once when a
previous call already built it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"


def build_tokenizer(
    root: Path,
    texts: Iterable[str],
    vocab_size: int = 2000,
    bos: bool = True,
    pad: bool = True,
    name: str | None = None,
) -> Path:
    """Train a byte-level BPE on `texts` and save it as a PreTrainedTokenizerFast.

    Args:
        root: folder under which the tokenizer folder is created.
        texts: training text.
        vocab_size: BPE vocabulary size (specials included).
        bos: give the tokenizer a bos token (False: a Qwen-like tokenizer without one).
        pad: give the tokenizer a pad token.
        name: folder name; derived from the arguments when None.
    """
    out = Path(root) / (name or f"tok_v{vocab_size}_bos{int(bos)}_pad{int(pad)}")
    if (out / "tokenizer.json").is_file():
        return out
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [UNK, EOS] + ([BOS] if bos else []) + ([PAD] if pad else [])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    kwargs = {"unk_token": UNK, "eos_token": EOS}
    kwargs.update({"bos_token": BOS} if bos else {})
    kwargs.update({"pad_token": PAD} if pad else {})
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1 << 20, **kwargs)
    fast.save_pretrained(out)
    return out


def build_tiny_model(
    root: Path,
    tokenizer_dir: Path,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    seed: int = 0,
    name: str | None = None,
) -> Path:
    """A random-init Llama causal LM sized to the tokenizer, saved with its tokenizer in one folder."""
    out = Path(root) / (name or f"llama_l{layers}_h{hidden}_s{seed}_{Path(tokenizer_dir).name}")
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def training_sequences(
    tokenizer: Any, rows: list[dict[str, str]], template: str, max_length: int
) -> list[list[int]]:
    """[bos] + T(x) + y + eos for each row, with the project's own sequence builder."""
    from recycle.student.sequences import build_sequence, prompt_prefix

    seqs = []
    for row in rows:
        prefix = prompt_prefix(template, row["instruction"], tokenizer, row["input"])
        seq = build_sequence(tokenizer, prefix, row["output"], max_length, add_eos=True)
        if not seq.error:
            seqs.append(list(seq.input_ids))
    return seqs


def train_model(
    root: Path,
    base_dir: Path,
    rows: list[dict[str, str]],
    steps: int = 300,
    seconds: float | None = None,
    template: str = "vicuna",
    max_length: int = 256,
    batch_size: int = 8,
    lr: float = 3e-3,
    seed: int = 0,
    name: str | None = None,
) -> Path:
    """Train the model of `base_dir` on templated rows (loss on every token), AdamW, fixed seed.

    Args:
        steps: optimizer steps (deterministic, whatever the machine's load).
        seconds: stop earlier when this much wall time has passed (None: no time limit).

    Returns the folder of the trained model (with its tokenizer).
    """
    out = Path(root) / (name or f"trained_{Path(base_dir).name}_{steps}steps")
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    seqs = training_sequences(tokenizer, rows, template, max_length)
    _train_loop(model, seqs, steps, seconds, batch_size, lr, seed, tokenizer.pad_token_id or 0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _train_loop(
    model: Any,
    seqs: list[list[int]],
    steps: int,
    seconds: float | None,
    batch_size: int,
    lr: float,
    seed: int,
    pad: int,
) -> None:
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    deadline = time.monotonic() + seconds if seconds else math.inf
    for _ in range(steps):
        if time.monotonic() > deadline:
            break
        batch = rng.sample(seqs, min(batch_size, len(seqs)))
        width = max(map(len, batch))
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch])  # (B, T)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch])  # (B, T)
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def reference_cpu_model(root: Path, rows: Iterable[dict[str, str]]) -> Path:
    """The benchmarks' CPU model (jobs/bench_scoring.py, bench_conversations.py; one folder for
    both): Llama, 4 layers, 256 wide, a 32k BPE trained on the rows' text."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    texts = (r[k] for r in rows for k in ("instruction", "input", "output"))
    tok = build_tokenizer(root, texts, vocab_size=32000)
    return build_tiny_model(root, tok, layers=4, hidden=256, heads=4)
