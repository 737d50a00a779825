"""Canonical records and the mappings between them and each system's own form."""
