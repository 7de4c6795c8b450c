"""Length-sorted micro-batches: the same rows per step, less padding, the same loss and gradient."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from recycle import columns as C
from recycle.train.batches import collate_rows
from recycle.train.model import CausalLMLoss
from recycle.train.schedule import Layout, build_schedule, padding_tokens, sort_step_rows
from tests.support.train_support import step_micro_batches, tokenized_alpaca

N = 16
LAYOUT = Layout(global_rows=8, num_workers=2, micro_batch_size=2)  # 2 micro-batches per worker


@pytest.fixture(scope="module")
def samples(tiny_model_dir):
    """Token ids and target starts of 16 real Alpaca rows."""
    _, _, ids, starts = tokenized_alpaca(tiny_model_dir, N, 1024)
    return ids, starts


def _schedule(ids, starts, sort):
    sids = [f"s{i:02d}" for i in range(N)]
    return build_schedule(sids, ids, starts, LAYOUT, 1, 0, False, 1024, sort_by_length=sort)


def test_sorting_deals_the_longest_rows_to_the_first_micro_batch_of_every_worker():
    lengths = [5, 50, 7, 40, 9, 30, 11, 20]
    rows = [[i] for i in range(8)]
    out = sort_step_rows(rows, lengths, LAYOUT)
    # place(): rank 0 micro 0, rank 0 micro 1, rank 1 micro 0, rank 1 micro 1 (2 rows each)
    assert [lengths[r[0]] for r in out] == [50, 40, 11, 9, 30, 20, 7, 5]
    assert padding_tokens(out, lengths, LAYOUT) == 10 + 2 + 10 + 2
    assert padding_tokens(rows, lengths, LAYOUT) == 45 + 33 + 21 + 9


def test_sorted_steps_hold_the_same_rows_with_less_padding(samples):
    ids, starts = samples
    plain, ordered = _schedule(ids, starts, False), _schedule(ids, starts, True)
    assert plain.fingerprint == ordered.fingerprint  # a run may resume with the other setting
    for step in (1, 2):

        def rows(s, step=step):
            return sorted(
                tuple(r)
                for t in s.rank_tables
                for r in t.filter(t[C.STEP].to_numpy() == step)[C.INPUT_IDS].to_pylist()
            )

        assert rows(plain) == rows(ordered)
    assert plain.stats["tokens"] == ordered.stats["tokens"]
    assert ordered.stats["padding_tokens"] < 0.9 * plain.stats["padding_tokens"], (
        ordered.stats,
        plain.stats,
    )


def _loss_and_grads(model, batches):
    """The step's loss (global-token mean) and gradient, accumulated over the micro-batches."""
    model.zero_grad()
    n = sum(int((b["labels"] != -100).sum()) for b in batches)
    total = torch.zeros(())
    for b in batches:
        nll, _ = model(b["input_ids"], b["position_ids"], b["attention_mask"], b["labels"])
        (nll / n).backward()
        total += nll.detach()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    return float(total / n), grads


def test_sorted_micro_batching_gives_the_same_loss_and_gradient(samples, tiny_model_dir):
    ids, starts = samples
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation="sdpa"
    )
    model = CausalLMLoss(lm)
    plain, ordered = _schedule(ids, starts, False), _schedule(ids, starts, True)
    a = step_micro_batches(plain.rank_tables, 1, LAYOUT.micro_batch_size, pad_id=0)
    b = step_micro_batches(ordered.rank_tables, 1, LAYOUT.micro_batch_size, pad_id=0)
    assert len(a) == len(b) == 4
    width = [int(x["input_ids"].numel()) for x in a], [int(x["input_ids"].numel()) for x in b]
    assert sum(width[1]) < sum(width[0])  # fewer padded positions computed
    loss_a, g_a = _loss_and_grads(model, a)
    loss_b, g_b = _loss_and_grads(model, b)
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    for k in g_a:
        assert torch.allclose(g_a[k], g_b[k], rtol=1e-5, atol=1e-7), k
    assert float(g_a["lm.model.embed_tokens.weight"].abs().sum()) > 0  # a real gradient


def test_collated_sorted_micro_batch_pads_to_its_own_longest_row(samples):
    ids, starts = samples
    t = _schedule(ids, starts, True).rank_tables[0]
    part = t.slice(0, 2)
    batch = collate_rows({k: part[k].to_numpy(zero_copy_only=False) for k in t.column_names}, 0)
    lengths = [len(r) for r in part[C.INPUT_IDS].to_pylist()]
    assert batch["input_ids"].shape == (2, max(lengths))
