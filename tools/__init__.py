"""Operator and reviewer tools (make preflight, rollback, timeline, diff-json, diagram, docs, checkov);
the test harness (emulator, offline Terraform) lives in tools/harness/. Not shipped in stacks."""
