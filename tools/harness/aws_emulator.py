"""Start moto's server on loopback, with the few fixes that make it answer like AWS for our stacks.

    python -m tools.harness.aws_emulator --port 4566 [--account-id 123456789012]

Each patch is tiny, named after the AWS behaviour it restores, and applied only here: the
product never changes to please the emulator.
"""

from __future__ import annotations

import argparse
import os


def apply_patches() -> list[str]:
    """Apply every patch; return their names (printed at start-up, listed in the test output)."""
    from tools.harness import emulator_patches

    return emulator_patches.apply_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account-id", default="123456789012")
    args = parser.parse_args()
    os.environ["MOTO_ACCOUNT_ID"] = args.account_id
    # AWS-managed policies (e.g. AmazonRDSEnhancedMonitoringRole) exist in every real account.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    # Lambda concurrency as in a new account: its quota can be as low as the unreserved minimum AWS
    # always keeps, so PutFunctionConcurrency (reserved_concurrent_executions) of any amount fails.
    # moto keeps 100 unreserved; a quota of 100 leaves nothing to reserve.
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = "100"
    applied = apply_patches()
    print(f"emulator patches: {', '.join(applied) or 'none'}", flush=True)
    from moto import server

    server.main(["--host", "127.0.0.1", "--port", str(args.port)])


if __name__ == "__main__":
    main()
