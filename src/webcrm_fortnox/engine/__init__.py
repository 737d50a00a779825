"""The sync engine: change detection, plan, apply, three-way merge, matching."""
