"""Starting the example service under real uvicorn or gunicorn."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import httpx
from conftest import free_port, output_file

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]


class Server:
    """A server process running examples/service.py on 127.0.0.1."""

    def __init__(self, argv: List[str], env: Dict[str, str], name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = output_file(f"{name}-{self.port}.log")
        log = open(self.log_path, "w")
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=PACKAGE_DIR,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def wait_up(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                self.http.get("/health")
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server not up: {self.log_path.read_text()[-2000:]}")

    def stop(self, seconds: float = 30.0) -> Optional[int]:
        """SIGTERM, then the exit code; None when it did not exit in time (then killed)."""
        self.http.close()
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
