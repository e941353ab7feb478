"""Entry point: ``python -m service.healthcheck [/health | /ready]``: the container health check.

ECS only runs the health check a task definition declares (never the image's HEALTHCHECK), and
replaces a service's task whose essential container reports UNHEALTHY:
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
A routed service has the target groups' probe of /ready as well; an unrouted one (a worker
found through Cloud Map) has only this, so its config sets ``health_check_command: [python, -m,
service.healthcheck]`` and its task definition declares it. It asks /health by default, liveness only:
a database failover must not make ECS replace every task. No dependencies beyond the standard
library, so it starts fast inside the health check's timeout.

Exit status: 0 healthy (200), 1 anything else (refused, timed out, another status), 2 usage.
"""

from __future__ import annotations

import os
import sys
import urllib.request

PATHS = ("/health", "/ready")
#: Below the shortest ECS health check timeout we declare (its minimum is 2 s).
TIMEOUT_SECONDS = 1.5


def healthy(port: int, path: str = "/health", timeout: float = TIMEOUT_SECONDS) -> bool:
    """The service on this task's loopback answers 200 on ``path``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:  # refused, timed out, or a non-2xx status (HTTPError)
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "/health"
    port = os.environ.get("PORT", "8080")
    if len(args) > 1 or path not in PATHS or not port.isdigit():
        print(f"usage: PORT=<port> python -m service.healthcheck [{' | '.join(PATHS)}]", file=sys.stderr)
        return 2
    return 0 if healthy(int(port), path) else 1


if __name__ == "__main__":
    sys.exit(main())
