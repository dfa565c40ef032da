"""Pure-Python model engine (no Qt)."""
