"""The commands: each a small declaration that one runner (`runner.execute`) carries out.

    from recycle.commands.pipeline import run_pipeline      # what `recycle run` calls

`runner` starts Ray, reads, clears or resumes the run directory, runs the command's graph into part
files, writes the manifest and checks its accounting invariant. Each other module declares one
command and its library entry point: `validate.run_validate`, `score.run_score`,
`reflect.run_reflect`, `stats.run_stats`, `select.run_select`, `pipeline.run_pipeline`,
`generate.run_generate`, `judge.run_judge`, `eval.run_eval` (and `eval.evaluate_finetuned`).
Stage packages (data, student, teacher, select, pipeline, eval, train) never import this package;
the CLI, jobs, notebooks, benchmarks and the demo do. Importing it imports nothing else.
"""
