"""Shared helpers for the pam_emailotp integration tests (see env.py)."""
