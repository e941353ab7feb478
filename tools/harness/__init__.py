"""The test harness: the AWS emulator and its strictness patches, offline Terraform, the emulator
cycle, and the generators of checked-in data. Operators use tools/ (preflight, rollback, ...)."""
