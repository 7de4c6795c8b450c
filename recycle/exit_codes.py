"""What `recycle`'s exit status means; one place, so scripts and schedulers can rely on it.

    0    done: every sample ended kept, dropped by a rule, or rejected for a final reason
    1    an unexpected error (a bug: Python prints the traceback)
    2    nothing was done: a config, input or pre-flight error; the message says what to fix
    3    the run ended, but samples were left for a rerun (teacher unavailable, budget reached):
         run the same command again (raise teacher.max_cost_usd first for "budget")
    4    the job stopped: the teacher (or judge) did not answer for teacher.max_outage_s;
         what was finished is kept, run the same command again once the endpoint is back
    130  interrupted (Ctrl-C); run the same command again to resume
"""

from __future__ import annotations

OK = 0
ERROR = 1
USAGE = 2
INCOMPLETE = 3
TEACHER_UNREACHABLE = 4
INTERRUPTED = 130


def exit_code_of(err: BaseException) -> int:
    """The exit status of a user-facing error: its `exit_code` attribute, else USAGE."""
    code = getattr(err, "exit_code", USAGE)
    return code if isinstance(code, int) else USAGE
