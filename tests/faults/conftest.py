"""Fault suite hooks and fixtures; the code lives in `faults_support.py`
(imported by name, so it never clashes with another folder's conftest)."""

from faults_support import (  # noqa: F401  (registered by pytest from here)
    fault_proxy,
    figures,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_terminal_summary,
)
