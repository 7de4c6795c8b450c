"""Test and demo scaffolding shipped with the library: a scripted OpenAI-compatible teacher.

    from recycle.testing.local_server import LocalTeacherServer, CUT_OFF, RATE_LIMIT  # the server
    from recycle.testing.server_process import ServerProcess   # the same, in its own process
    from recycle.testing.local_answers import ReplayAnswers    # recorded answers to serve

The server answers chat completions and the Batch API with deterministic text in the papers'
format, and injects faults through its public API: `faults={kind: rate}` or
`fault_fn(messages, n) -> kind` per request (the kinds in `local_server.FAULTS`), `outage()`,
`on_request` to see each request's headers, and `server.batch.fail_uploads()` / `expire_half()` /
`refuse_over()` / `fail_validation()` for whole batches. Tests, benchmarks (recycle.bench) and the
offline demo (recycle.demo) use it; no production module imports it.
"""
