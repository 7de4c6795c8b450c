"""Benchmark logic, importable and testable; `jobs/bench_*.py` are thin entrypoints over it.

- `data`: real Alpaca rows (the shared 5% subset when present, else the bundled demo sample) and
  the offline tokenizer trained on them.
- `scoring`: the batched student scorer against the authors' one-sequence-per-forward loop.
- `tokens`: student forward tokens per sample of the pipeline's phases against the authors' scripts.
- `teacher`: the teacher stage against the local server in its own process: throughput against the
  latency bound, the rate limit, the authors' batches of 10, and the Batch API against online.
- `gpu`: the one-command GPU benchmark (scoring, one FSDP2 training step, flash-attn vs SDPA) that
  runs on a bare machine with only PyTorch and transformers (no Ray, no vLLM).
"""
