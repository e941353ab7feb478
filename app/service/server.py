"""Entry point: ``python -m service.server``. Serves until SIGTERM, then drains and exits cleanly.
It never migrates the database: the one-off task ``python -m service.migrate`` does, before green
takes traffic; until then /ready answers 503.

On SIGTERM (ECS stopping the task, after the load balancer has deregistered it):
1. /ready answers 503 at once, while requests are still served for DRAIN_SECONDS;
2. the listener closes and in-flight requests finish (at most SHUTDOWN_TIMEOUT_SECONDS);
3. the database pool closes and the process exits 0 — well inside the ECS stop timeout.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType

import uvicorn

from service import logs, settings
from service.api import State, create_app

log = logging.getLogger("service.server")


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain period between SIGTERM and closing the listener."""

    def __init__(self, config: uvicorn.Config, state: State) -> None:
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.state.draining:
            self.state.draining = True
            delay = self.state.settings.drain_seconds
            log.info("SIGTERM: draining", extra={"drain_seconds": delay})
            asyncio.get_event_loop().call_later(delay, self._stop_serving, sig, frame)
            return
        super().handle_exit(sig, frame)

    def _stop_serving(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises captured signals after shutdown, so the process would die of SIGTERM
        # (exit 143). A completed drain is a clean stop: exit 0, so ECS does not report a kill.
        if sig in self._captured_signals:
            self._captured_signals.remove(sig)


def main() -> int:
    try:
        config = settings.load()
    except settings.SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    app = create_app(config)
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips="*",
            timeout_graceful_shutdown=int(config.shutdown_timeout_seconds),
            timeout_keep_alive=75,  # longer than the ALB's 60 s idle timeout, so the ALB closes first
        ),
        app.state.service,
    )
    server.run()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
