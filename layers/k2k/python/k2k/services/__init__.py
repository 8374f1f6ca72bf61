"""Use cases: read, decide with the pure rules, write with conditions and events."""
