"""recycle: Selective Reflection-Tuning as a distributed Ray application.

The package map: what lives where, from the bottom up. A module may import its own layer and the
layers below it, never one above, and no import goes round in a cycle (between modules or between
packages); tests/unit/test_layers.py reads every import with `ast` (of the package and of jobs/*.py)
against `LAYERS` below, the one copy of the table, and fails on one that climbs or closes a cycle,
with no exception list (a new package gets a row in `LAYERS`).

0. Leaves. `errors` (errors a user can fix), `exit_codes`, `columns` (every column name, the
   outcome values and the transient reject reasons, `kept_mask`), `storage` (filesystems for local
   paths, s3:// and gs://, globbing, atomic writes), `logs`, `prompts` (the one renderer of
   prompts/*.j2), `ray_utils` (starting Ray), and `config` (the typed, validated YAML config). The
   selection modes are declared in `select.declarations`, so a mode name is checked there, by the
   start-up checks of the commands that select, not by the config.
1. Data and the run directory. `data` reads local / s3 / gs inputs in every format and normalizes
   rows into samples; `rundir` is the run directory contract (kept/, dropped/, rejects/, retry/,
   the manifest and its accounting invariant).
2. Stages, each a pure core plus a thin Ray adapter. `teacher` (reflection through any
   OpenAI-compatible endpoint, online or Batch API, with the cache, gate and journal), `student`
   (token sequences, target-only losses, IFD / r-IFD: `scoring` is the core, `scoring_actor` its
   Ray Data adapter), `select` (the mode declarations and the selection rules over scored rows).
   The three stages do not import each other.
3. Applications of the stages. `pipeline` (the streaming graph of `recycle run`, re-selection,
   resume, progress), `train` (Ray Train fine-tuning), `eval` (answers and the pairwise judge),
   `report` (the HTML report of a run), `preflight` (start-up checks without Ray or torch),
   and `testing` (scaffolding shipped with the
   library: the scripted OpenAI-compatible teacher server with its fault-injection API, and the
   offline tiny-student builders). Production code never imports `testing`: only `bench`, `demo`
   and the tests do.
4. `commands`: one runner and a small declaration per command (start Ray, read, clear or resume,
   run the graph, write parts, manifest and invariant), and `commands.entry`, the one way in
   (config, pre-flight, run log, the command, summary, exit code). Imported only by `cli`,
   `api`, `demo` and `bench`.
5. Entry points. `cli` (the `recycle` command line: one `Face` per command), `api` (the same
   commands as functions for notebooks), `demo` (the offline demo: tiny student, scripted
   teacher, bundled Alpaca rows) and `bench` (the benchmark logic behind jobs/bench_*.py, which
   runs whole commands side by side). No lower layer imports them.
6. jobs/*.py (outside the package): thin entrypoints that may import any layer; the pipeline,
   training, evaluation and end-to-end jobs hand their arguments to the command line
   (`recycle.cli.main.job`).
"""

__version__ = "0.1.0"

# The package map above as data: layer -> the top-level modules and packages in it.
LAYERS: dict[int, tuple[str, ...]] = {
    0: ("recycle", "errors", "exit_codes", "columns", "storage", "logs", "prompts", "config",
        "ray_utils"),
    1: ("data", "rundir"),
    2: ("teacher", "student", "select"),
    3: ("pipeline", "train", "eval", "report", "preflight", "testing"),
    4: ("commands",),
    5: ("cli", "api", "demo", "bench", "__main__"),
}  # fmt: skip
# Above every layer: the job scripts (jobs/*.py), which may import any of them.
JOBS_LAYER = 6
# The only packages besides the tests and jobs that may import recycle.testing.
MAY_IMPORT_TESTING = ("testing", "demo", "bench")
