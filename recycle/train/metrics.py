"""Step metrics: throughput, an MFU estimate, peak memory, and the progress line of the job log.

MFU follows the PaLM accounting: a token costs 6·P FLOPs for the weights (forward + backward)
plus 12·L·H·S for attention over a context of S tokens, divided by the hardware peak. Recomputed
activations (activation checkpointing) are not counted: this is model, not hardware, FLOPs.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from recycle.train.step import StepResult

# Dense bf16 tensor-core peak of one device, TFLOP/s, matched by substring of the device name.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H800", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("A6000", 155.0),
    ("4090", 165.0),
)


def flops_per_token(n_params: int, n_layers: int, hidden: int, context: float) -> float:
    """Training FLOPs of one token: 6·P for the weights, 12·L·H·S for attention."""
    return 6.0 * n_params + 12.0 * n_layers * hidden * context


def peak_flops(
    device: torch.device, mixed_precision: str, override_tflops: float | None
) -> float | None:
    """Peak FLOP/s of one worker: the configured value, else a known GPU's bf16 peak, else None."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda" or mixed_precision != "bf16":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory of this worker: allocated GPU memory, or the process's peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**30 if sys.platform == "darwin" else 2**20)


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count needs to know about the model."""

    n_params: int
    n_layers: int
    hidden: int


class StepMeter:
    """Times steps and turns a `StepResult` into the metrics dict reported to Ray Train."""

    def __init__(
        self,
        shape: ModelShape,
        world_size: int,
        peak: float | None,
        device: torch.device,
        total_steps: int,
    ):
        self.shape, self.world_size, self.peak, self.device = shape, world_size, peak, device
        self.total_steps = total_steps
        self._start = time.perf_counter()

    def start(self) -> None:
        """Mark the start of a step (data loading of the step included)."""
        self._start = time.perf_counter()

    def metrics(
        self, step: int, epoch: int, result: StepResult, mean_context: float
    ) -> dict[str, Any]:
        """Metrics of the step that just ended."""
        seconds = max(time.perf_counter() - self._start, 1e-9)
        per_worker = result.tokens / self.world_size / seconds
        out: dict[str, Any] = {
            "step": step,
            "epoch": epoch,
            "total_steps": self.total_steps,
            "loss": result.loss,
            "lr": result.lr,
            "grad_norm": result.grad_norm,
            "tokens": result.tokens,
            "target_tokens": result.target_tokens,
            "step_time_s": seconds,
            "tokens_per_s": result.tokens / seconds,
            "tokens_per_s_per_worker": per_worker,
            "local_tokens_per_s": result.local_tokens / seconds,
            "peak_memory_gb": peak_memory_gb(self.device),
        }
        if self.peak:
            shape = self.shape
            out["mfu"] = (
                per_worker
                * flops_per_token(shape.n_params, shape.n_layers, shape.hidden, mean_context)
                / self.peak
            )
        return out


def train_step_line(m: dict[str, Any]) -> str:
    """One human line per reported step, for the job log."""
    mfu = f" mfu {m['mfu']:.1%}" if "mfu" in m else ""
    return (
        f"[train] step {m['step']}/{m['total_steps']} epoch {m['epoch'] + 1} loss {m['loss']:.4f} "
        f"lr {m['lr']:.2e} grad_norm {m['grad_norm']:.3f} tok/s {m['tokens_per_s']:,.0f} "
        f"({m['tokens_per_s_per_worker']:,.0f}/worker){mfu} mem {m['peak_memory_gb']:.2f} GB"
    )


def mean_context(micro_batches: list[dict[str, torch.Tensor]]) -> float:
    """Token-weighted mean attention context of the step's samples (for the FLOP count).

    A sample of length n attends over n tokens on average at the end; the PaLM formula uses
    the full sequence length, here the length of the sample a token belongs to.
    """
    total, weighted = 0, 0
    for mb in micro_batches:
        pos = mb["position_ids"][mb["attention_mask"].bool()]  # (N,)
        starts = torch.nonzero(pos == 0).flatten().tolist() + [pos.numel()]
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            total += b - a
            weighted += (b - a) ** 2
    return weighted / max(total, 1)
