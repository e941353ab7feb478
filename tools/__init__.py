"""Developer tooling: the offline Terraform harness and the AWS emulator launcher (not shipped in stacks)."""
