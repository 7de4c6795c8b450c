"""The GPU check: every GPU path of the project, once, on one GPU with only PyTorch and transformers.

On a locally built random Llama of ~1B parameters (config + random init + `save_pretrained`, a
BPE tokenizer trained on the bundled Alpaca rows; no model hub, no Ray, no vLLM):

(a) scoring: the batched scorer (`score_columns`, bf16, SDPA) against a one-sequence loop (each
    sequence alone through the Hugging Face model's own `labels` loss): every loss, IFD and r-IFD;
(b) training: FSDP2 on a one-rank process group, fused AdamW (`build_optimizer`), the project's
    `train_step` on one fixed packed batch: the loss falls;
(c) checkpoint: `write_checkpoint`, then a fresh sharded model and optimizer `load_checkpoint`
    it: the same loss, and the same loss again after one more step (the optimizer state came back);
(d) export: `export_hf`, then `from_pretrained` of the folder: the same loss;
(e) generation: `greedy_batch` on all questions at once (left padding) against one at a time;
(f) `bench_gpu` at the Llama-2-7B shape (recycle.bench.gpu): scoring tokens/s and MFU, one
    training step's MFU.

Tolerances. The batched scorer and the loop run different kernels on differently shaped inputs;
in bf16 each rounds every activation to 8 significant bits, so they agree only within bf16's own
error. That error is measured in the same run: the loop once more in fp32 (the "exact" losses).
Two bf16 computations that each differ from the exact loss by at most `floor` differ from each
other by at most `2 * floor`, so losses must agree within max(0.02, 2 * floor) nats. 0.02 nats is
about a tenth of what a real fault moves a mean loss here (a logit of this random model has a
spread of ~0.9 nats, so scoring a wrong or unmasked token moves a ~50-token mean by ~0.1). As
IFD = exp(cond - uncond), |ln IFD_batched - ln IFD_loop| <= 2 x the loss tolerance. The same
weights through the same code (checkpoint, export) must agree within 2e-3 (bf16: kernels with
atomics can differ in the last bits after a step). Greedy answers must be equal token for token,
except where they part at a near-tie: the one-sequence logits of the two tokens chosen at the
first difference are within 0.25 (bf16 keeps 8 bits, so logits near 10 are 1/16 apart); at most
half the answers may part that way. `--dry-run` uses fp32, where every tolerance is ~1e-4.
"""

from __future__ import annotations

import gc
import math
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recycle import columns as C
from recycle.bench import gpu
from recycle.bench.data import alpaca_rows, columns, offline_tokenizer
from recycle.config.student import StudentConfig
from recycle.config.train import TrainConfig
from recycle.train.batches import IGNORE_INDEX

TEMPLATE = "vicuna"
FINGERPRINT = "gpu_check"
MIN_DROP = 0.05  # training must lower the loss by at least 5%


@dataclass(frozen=True)
class Tolerances:
    """What "equal" means for one compute dtype (see the module doc)."""

    loss: float  # scoring: least loss tolerance, raised to 2 x the measured floor
    same: float  # checkpoint: the same weights through the same code
    export: float  # export: the FSDP model against the reloaded folder
    tie: float  # generation: logit gap under which two tokens are a near-tie


TOLERANCES = {
    torch.bfloat16: Tolerances(loss=0.02, same=2e-3, export=0.02, tie=0.25),
    torch.float32: Tolerances(loss=1e-4, same=1e-5, export=1e-4, tie=1e-3),
}


@dataclass(frozen=True)
class CheckPlan:
    """What one check run does: the model, the shapes, and the benchmark after it."""

    shape: gpu.Shape
    device: torch.device
    dtype: torch.dtype  # compute dtype: bf16 on CUDA, fp32 in the dry run
    max_length: int
    score_rows: int
    micro_rows: int
    accum: int
    train_steps: int
    lr: float
    questions: int
    max_new_tokens: int
    workdir: Path
    bench: gpu.Plan | None
    budget_s: float | None  # the whole run must finish within this (None: a CPU dry run, whose
    # wall time says how busy the machine is, not whether the code path works)

    @property
    def tol(self) -> Tolerances:
        return TOLERANCES[self.dtype]


def make_check_plan(dry_run: bool, workdir: str, bench: bool = True) -> CheckPlan:
    """The ~1B bf16 plan on CUDA, or the tiny fp32 CPU plan of `--dry-run`."""
    root = Path(workdir)
    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run to check the script on the CPU")
    bench_plan = gpu.make_plan(dry_run, str(root), 2, 32) if bench else None
    if dry_run:
        return CheckPlan(gpu.TINY, torch.device("cpu"), torch.float32, 256, 8, 2, 2, 4, 3e-3,
                         4, 8, root, bench_plan, None)  # fmt: skip
    return CheckPlan(gpu.LLAMA_1B, torch.device("cuda"), torch.bfloat16, 1024, 64, 2, 4, 8, 1e-4,
                     16, 32, root, bench_plan, 480.0)  # fmt: skip


def compare(got: Sequence[float], ref: Sequence[float], tol: float) -> dict[str, Any]:
    """max |got - ref|; passed only with at least one pair, all finite, and the max within `tol`."""
    if len(got) != len(ref):
        raise ValueError(f"{len(got)} values against {len(ref)} references")
    diffs = [abs(float(a) - float(b)) for a, b in zip(got, ref, strict=True)]
    finite = all(math.isfinite(d) for d in diffs)
    worst = max(diffs) if diffs and finite else None
    passed = bool(diffs) and finite and worst <= tol
    return {"passed": passed, "n": len(diffs), "max_abs_diff": worst, "tol": tol}


def release() -> None:
    """Return freed device memory before the next model is built."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class Setup:
    """The locally built student: its folder, tokenizer, and the Alpaca rows."""

    folder: Path
    tokenizer: Any
    rows: list[dict[str, str]]
    carry: dict[str, Any] = field(default_factory=dict)  # what one check hands the next


def build_student(plan: CheckPlan) -> Setup:
    """A random-init Llama of `plan.shape`, saved in the compute dtype with its tokenizer."""
    rows = alpaca_rows()
    tokenizer = offline_tokenizer(plan.workdir, rows, vocab_size=plan.shape.vocab)
    config = gpu.llama_config(plan.shape, tokenizer, 4096)
    folder = plan.workdir / "student"
    shutil.rmtree(folder, ignore_errors=True)
    lm = gpu.random_model(config, plan.device, torch.float32, gpu.SDPA)
    lm.to(plan.dtype).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del lm
    release()
    return Setup(folder, tokenizer, rows)


def check_setup(plan: CheckPlan, built: list[Setup]) -> dict[str, Any]:
    """Build the student; what it is."""
    built.append(build_student(plan))
    weights = sum(p.stat().st_size for p in built[0].folder.glob("*.safetensors"))
    return {"passed": True, "folder": str(built[0].folder), "weights_gb": weights / 1e9,
            "vocab": len(built[0].tokenizer)}  # fmt: skip


def student_config(plan: CheckPlan, setup: Setup, dtype: torch.dtype) -> StudentConfig:
    name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    return StudentConfig(
        model=str(setup.folder), template=TEMPLATE, max_length=plan.max_length,
        device=plan.device.type, dtype=name, attn_implementation="sdpa",
    )  # fmt: skip


@torch.inference_mode()
def loop_losses(model: Any, seqs: Sequence[Any]) -> list[float]:
    """Each sequence alone through the Hugging Face model's own loss, on its target span only."""
    out = []
    for s in seqs:
        ids = torch.tensor([s.input_ids], device=model.device)  # (1, T)
        labels = ids.clone()  # (1, T); the model shifts them: position p predicts p + 1
        labels[:, : s.target_start] = IGNORE_INDEX
        out.append(float(model(input_ids=ids, labels=labels, use_cache=False).loss))
    return out


def check_scoring(plan: CheckPlan, setup: Setup) -> dict[str, Any]:
    """(a) the batched scorer against the one-sequence loop, with bf16's floor measured in fp32."""
    from recycle.bench.scoring import FOUR_LOSSES
    from recycle.student.model import load_student
    from recycle.student.planning import plan_pairs
    from recycle.student.scoring import KIND_COLUMNS, score_columns

    cols = columns(setup.rows[: plan.score_rows])
    cfg = student_config(plan, setup, plan.dtype)
    model, tok = load_student(cfg)
    out, stats = score_columns(model, tok, cols, FOUR_LOSSES, cfg)
    jobs = plan_pairs(tok, TEMPLATE, plan.max_length, cols, FOUR_LOSSES, range(plan.score_rows))
    live = [j for j in jobs if not j.cond.error]
    seqs = [s for j in live for s in (j.cond, j.uncond)]
    loop = loop_losses(model, seqs)
    del model
    release()
    exact_model, _ = load_student(student_config(plan, setup, torch.float32))
    exact = loop_losses(exact_model, seqs)
    del exact_model
    release()
    floor = max(abs(a - b) for a, b in zip(loop, exact, strict=True))
    tol = max(plan.tol.loss, 2 * floor)
    batched, ifd, ifd_ref = [], [], []
    for k, j in enumerate(live):
        cond_col, uncond_col, score_col, _ = KIND_COLUMNS[j.kind]
        batched += [out[cond_col][j.row], out[uncond_col][j.row]]
        ifd.append(math.log(out[score_col][j.row]) if out[score_col][j.row] > 0 else math.nan)
        ifd_ref.append(loop[2 * k] - loop[2 * k + 1])
    losses, scores = compare(batched, loop, tol), compare(ifd, ifd_ref, 2 * tol)
    return {
        "passed": losses["passed"] and scores["passed"],
        "losses": losses,
        "log_ifd_rifd": scores,
        "bf16_floor_vs_fp32": floor,
        "sequences": len(seqs),
        "forwards": stats.forwards,
        "dtype": str(plan.dtype),
    }


def packed_batch(plan: CheckPlan, setup: Setup) -> list[dict[str, torch.Tensor]]:
    """One training step's micro-batches, packed as the training job packs them."""
    layout = gpu.Plan(plan.shape, plan.device, 0, 1, plan.max_length, 0, plan.micro_rows,
                      plan.accum, 0, plan.workdir)  # fmt: skip
    return gpu.packed_steps(layout, setup.tokenizer, setup.rows)[0]


@torch.no_grad()
def eval_loss(model: Any, micro_batches: Sequence[dict[str, torch.Tensor]]) -> float:
    """Mean NLL over the target tokens of the micro-batches (a `CausalLMLoss`), in eval mode."""
    from recycle.train.batches import ATTENTION_MASK, INPUT_IDS, LABELS, POSITION_IDS

    was_training = model.training
    model.eval()
    nll, n = 0.0, 0
    for mb in micro_batches:
        s, k = model(mb[INPUT_IDS], mb[POSITION_IDS], mb[ATTENTION_MASK], mb[LABELS])
        nll, n = nll + float(s), n + int(k)
    model.train(was_training)
    return nll / n


def sharded(plan: CheckPlan, setup: Setup) -> tuple[Any, Any, Any]:
    """The production training model (meta init, FSDP2, rank-0 load) and its AdamW + schedule."""
    from recycle.train.model import build_sharded_model
    from recycle.train.step import build_optimizer

    mesh = gpu.single_rank_mesh(plan.device)
    model = build_sharded_model(
        str(setup.folder), mesh, plan.device, 0, attn=gpu.SDPA,
        mixed_precision="bf16" if plan.dtype == torch.bfloat16 else "fp32",
        activation_checkpointing=True,
    )  # fmt: skip
    cfg = TrainConfig(lr=plan.lr, warmup_ratio=0.0, min_lr_ratio=1.0, weight_decay=0.0)
    optimizer, scheduler = build_optimizer(model, cfg, plan.train_steps + 1)
    return model, optimizer, scheduler


def one_step(model: Any, batch: Any, optimizer: Any, scheduler: Any) -> float:
    from recycle.train.step import train_step

    return train_step(model, batch, optimizer, scheduler, 1.0, 1).loss


def check_training(plan: CheckPlan, setup: Setup) -> dict[str, Any]:
    """(b) FSDP2 + fused AdamW steps on one fixed batch lower its loss."""
    model, optimizer, scheduler = sharded(plan, setup)
    batch = packed_batch(plan, setup)
    before = eval_loss(model, batch)
    steps = [one_step(model, batch, optimizer, scheduler) for _ in range(plan.train_steps)]
    after = eval_loss(model, batch)
    fused = bool(optimizer.defaults.get("fused"))
    setup.carry.update(model=model, optimizer=optimizer, scheduler=scheduler, batch=batch)
    return {
        "passed": after < before * (1 - MIN_DROP) and (fused or plan.device.type != "cuda"),
        "loss_before": before, "loss_after": after, "step_losses": steps, "fused_adamw": fused,
        "tokens": sum(int(mb["attention_mask"].sum()) for mb in batch),
    }  # fmt: skip


@dataclass(frozen=True)
class LocalCheckpoint:
    """What `load_checkpoint` reads of a `ray.train.Checkpoint`: a local folder."""

    path: str

    @property
    def filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem()


def check_checkpoint(plan: CheckPlan, setup: Setup) -> dict[str, Any]:
    """(c) save, reload into a fresh model and optimizer: same loss, and same after one more step."""
    from recycle.train.checkpoint import TrainState, load_checkpoint, write_checkpoint

    model, optimizer, scheduler = (setup.carry.pop(k) for k in ("model", "optimizer", "scheduler"))
    batch = setup.carry["batch"]
    folder = plan.workdir / "checkpoint"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    state = TrainState(step=plan.train_steps, fingerprint=FINGERPRINT)
    write_checkpoint(str(folder), model, optimizer, scheduler, state, 0)
    saved = eval_loss(model, batch)
    one_step(model, batch, optimizer, scheduler)
    stepped = eval_loss(model, batch)
    del model, optimizer, scheduler
    release()
    model, optimizer, scheduler = sharded(plan, setup)
    fresh = eval_loss(model, batch)
    load_checkpoint(LocalCheckpoint(str(folder)), model, optimizer, scheduler, 0, FINGERPRINT)
    reloaded = eval_loss(model, batch)
    one_step(model, batch, optimizer, scheduler)
    restepped = eval_loss(model, batch)
    setup.carry.update(model=model, loss=restepped)
    result = compare([reloaded, restepped], [saved, stepped], plan.tol.same)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {**result, "saved": saved, "reloaded": reloaded, "fresh_model": fresh,
            "after_one_more_step": stepped, "reloaded_after_one_more_step": restepped,
            "checkpoint_gb": size / 1e9}  # fmt: skip


def check_export(plan: CheckPlan, setup: Setup) -> dict[str, Any]:
    """(d) export the trained model, reload it with `from_pretrained`: the same loss."""
    from transformers import AutoModelForCausalLM

    from recycle.student.model import dtype_kwarg
    from recycle.train.export import export_hf
    from recycle.train.model import CausalLMLoss

    model, fsdp_loss, batch = setup.carry.pop("model"), setup.carry["loss"], setup.carry["batch"]
    output = plan.workdir / "export"
    shutil.rmtree(output, ignore_errors=True)
    uri = export_hf(model, str(setup.folder), str(output), plan.dtype, 0, {"gpu_check": True})
    del model
    release()
    lm = AutoModelForCausalLM.from_pretrained(uri, attn_implementation=gpu.SDPA,
                                              **dtype_kwarg(plan.dtype)).to(plan.device)  # fmt: skip
    exported = eval_loss(CausalLMLoss(lm), batch)
    setup.carry.update(lm=lm.eval())
    return {**compare([exported], [fsdp_loss], plan.tol.export), "fsdp": fsdp_loss,
            "from_pretrained": exported, "folder": uri}  # fmt: skip


def first_difference(a: Sequence[int], b: Sequence[int]) -> int:
    """Index of the first token where two answers part (the shorter one ended there at eos)."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@torch.inference_mode()
def logit_gap(lm: Any, ids: Sequence[int], a: int, b: int) -> float:
    """|logit(a) - logit(b)| after `ids`, from one sequence alone."""
    logits = lm(input_ids=torch.tensor([list(ids)], device=lm.device)).logits[0, -1].float()
    return abs(float(logits[a] - logits[b]))


def check_generation(plan: CheckPlan, setup: Setup) -> dict[str, Any]:
    """(e) greedy answers of all questions decoded together equal those decoded one at a time."""
    from recycle.eval.generate import greedy_batch, plan_prompts

    lm, tok = setup.carry.pop("lm"), setup.tokenizer
    rows = setup.rows[: plan.questions]
    questions = [(r[C.INSTRUCTION], r.get(C.INPUT, "")) for r in rows]
    prompts, settled = plan_prompts(tok, questions, TEMPLATE, plan.max_length)
    fits = [i for i in range(len(prompts)) if i not in settled]
    together = greedy_batch(lm, tok, [prompts[i] for i in fits], plan.max_new_tokens)
    alone = [greedy_batch(lm, tok, [prompts[i]], plan.max_new_tokens)[0] for i in fits]
    eos, ties, faults = tok.eos_token_id, [], []
    for i, a, b in zip(fits, alone, together, strict=True):
        if a == b:
            continue
        p = first_difference(a, b)
        gap = logit_gap(lm, prompts[i] + a[:p], *(x[p] if p < len(x) else eos for x in (a, b)))
        (ties if gap <= plan.tol.tie else faults).append({"question": i, "at": p, "gap": gap})
    tokens = sum(len(a) for a in alone)
    return {
        "passed": bool(fits) and not faults and len(ties) <= len(fits) // 2 and tokens >= len(fits),
        "answers": len(fits), "equal": len(fits) - len(ties) - len(faults), "near_ties": ties,
        "mismatches": faults, "tokens_alone": tokens, "tie_tol": plan.tol.tie,
    }  # fmt: skip


def check_bench(bench: gpu.Plan) -> dict[str, Any]:
    """(f) bench_gpu at its shape: scoring tokens/s and MFU, one training step's MFU."""
    figures = gpu.measure(bench)
    for line in gpu.figure_lines(figures):
        print(line, flush=True)
    score, train = figures["scoring"], figures["training"]
    numbers = [score["tokens_per_s"], score["speedup"], train["tokens_per_s"]]
    return {
        "passed": all(math.isfinite(x) and x > 0 for x in numbers),
        "shape": figures["shape"], "scoring_tokens_per_s": score["tokens_per_s"],
        "scoring_speedup": score["speedup"], "scoring_mfu": score["mfu"],
        "train_tokens_per_s": train["tokens_per_s"], "train_mfu": train["mfu"],
        "params": train["params"],
    }  # fmt: skip


# (name, check, the check it needs); each runs only when the one it needs passed.
CHECKS: list[tuple[str, Callable[[CheckPlan, Setup], dict[str, Any]], str | None]] = [
    ("scoring", check_scoring, None),
    ("training", check_training, None),
    ("checkpoint", check_checkpoint, "training"),
    ("export", check_export, "checkpoint"),
    ("generation", check_generation, "export"),
]


def run_one(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One check, timed; an exception fails it with its message (the traceback goes to stderr)."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = fn()
    except Exception as err:  # a check that raises has failed; say why and go on to the others
        traceback.print_exc()
        result = {"passed": False, "error": f"{type(err).__name__}: {err}"[:2000]}
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["cpu_s"] = round(time.process_time() - cpu, 2)  # this process's CPU time, all threads
    print(f"[gpu_check] {name}: {'passed' if result['passed'] else 'FAILED'} "
          f"({result['seconds']:.1f} s)", flush=True)  # fmt: skip
    return result


def environment(plan: CheckPlan) -> dict[str, Any]:
    import platform

    import transformers

    cuda = plan.device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name() if cuda else "CPU",
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "transformers": transformers.__version__, "model": plan.shape.name,
        "dtype": str(plan.dtype), "dry_run": not cuda,
    }  # fmt: skip


def run_checks(plan: CheckPlan) -> dict[str, Any]:
    """Every check in order; the summary that the job prints as its last line."""
    started = time.perf_counter()
    built: list[Setup] = []
    checks = {"setup": run_one("setup", lambda: check_setup(plan, built))}
    for name, fn, needs in CHECKS:
        if not built or (needs and not checks[needs]["passed"]):
            checks[name] = {"passed": False, "error": f"not run: {needs or 'setup'} failed"}
            continue
        checks[name] = run_one(name, lambda fn=fn: fn(plan, built[0]))
    built.clear()
    release()
    if plan.bench is not None:
        checks["bench_gpu"] = run_one("bench_gpu", lambda: check_bench(plan.bench))
    wall = time.perf_counter() - started
    within = plan.budget_s is None or wall <= plan.budget_s
    checks["wall"] = {"passed": within, "seconds": round(wall, 2), "budget_s": plan.budget_s}
    shutdown()
    return {
        "passed": all(c["passed"] for c in checks.values()),
        "environment": environment(plan),
        "ray_imported": sys.modules.get("ray") is not None,
        "vllm_imported": sys.modules.get("vllm") is not None,
        "checks": checks,
    }


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
