"""Secure-sharing gateway."""
