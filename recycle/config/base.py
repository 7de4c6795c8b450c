"""The base model every config section derives from: unknown keys are errors, values are checked."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: forbids unknown keys so a typo fails at start-up, naming the key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
