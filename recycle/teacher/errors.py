"""Teacher failures: fatal ones stop the job (bad key, wrong model); per-sample ones become rejects."""

from __future__ import annotations

from recycle import columns as C
from recycle import exit_codes
from recycle.errors import RecycleError

STAGE_INSTRUCTION = "reflect_instruction"
STAGE_RESPONSE = "reflect_response"

# Reject reasons of the teacher stages (column `reason`; the status column repeats them).
BAD_REQUEST = "teacher_bad_request"  # 400/413/422: e.g. context too long; not retried
# 429 / 5xx / timeouts / dropped connections past max_retries
UNAVAILABLE = C.REASON_TEACHER_UNAVAILABLE
BUDGET = C.REASON_BUDGET  # teacher.max_cost_usd reached before this sample was sent
# Transient rejects: not the sample's fault; a rerun of the same command retries them.
TRANSIENT = C.TRANSIENT_REASONS
PROMPT_TOO_LONG = (
    "teacher_prompt_too_long"  # even with its response cut away, the prompt does not fit
)


class TeacherAuthError(RecycleError):
    """401/403 or a missing key: nothing will work, so the job stops at once."""


class TeacherEndpointError(RecycleError):
    """The endpoint does not know the model or the path (404): a config error, the job stops."""


class TeacherOutageError(RecycleError):
    """The endpoint did not answer for teacher.max_outage_s: the job stops; a rerun resumes."""

    exit_code = exit_codes.TEACHER_UNREACHABLE


class SampleRejected(Exception):
    """This sample cannot be reflected; it becomes a reject with `reason` and `detail`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self):
        return (type(self), (self.reason, self.detail))


JOB_STOPPING = (TeacherAuthError, TeacherEndpointError, TeacherOutageError)
FATAL = {cls.__name__: cls for cls in JOB_STOPPING}


def fatal_from_record(record: tuple[str, str] | None) -> RecycleError | None:
    """Rebuild the job-stopping error a teacher actor recorded in the gate (kind, message)."""
    if record is None or record[0] not in FATAL:
        return None
    return FATAL[record[0]](record[1])


def find_fatal(err: BaseException) -> RecycleError | None:
    """The job-stopping teacher error (JOB_STOPPING) behind an error Ray wrapped, if it survived."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, JOB_STOPPING):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "cause", None)])
    return None
