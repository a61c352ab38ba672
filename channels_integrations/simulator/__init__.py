"""The platform simulator: a local server standing in for the platforms' APIs on loopback (see core.py)."""
