"""The student: token sequences shared with training, target-only losses, IFD and r-IFD scoring."""
