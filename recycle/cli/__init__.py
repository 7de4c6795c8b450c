"""Command-line entry points; all logic lives in the library modules they call."""
