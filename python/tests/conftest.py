"""Fixtures: a replay server process per test (`replay-serve`, the repository's loopback test
server: scripted vLLM-shaped answers, recorded requests) and the live llama.cpp server that
`scripts/test` starts (`LLM_CORE_LIVE_URL`).

`LLM_CORE_REPLAY_SERVE` names the replay-serve binary; without it, the release build under
`$CARGO_TARGET_DIR` (else the repository's `target/`) is used.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

CHAT = "/v1/chat/completions"
REPO = Path(__file__).resolve().parents[2]


def replay_serve_binary() -> str:
    explicit = os.environ.get("LLM_CORE_REPLAY_SERVE")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "release" / "replay-serve"
    if not binary.exists():
        pytest.exit(f"no {binary}: build it with `cargo build --release -p replay-server --bin replay-serve`", 2)
    return str(binary)


class Replay:
    """The replay server: `on`/`push` script answers, `requests` reads what was sent."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [replay_serve_binary()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        self.origin = self.base_url.rsplit("/v1", 1)[0]

    def command(self, c: Dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert not (isinstance(answer, dict) and "error" in answer), answer
        return answer

    def on(self, reply: Dict[str, Any], path: str = CHAT) -> None:
        self.command({"on": path, "reply": reply})

    def push(self, reply: Dict[str, Any], path: str = CHAT) -> None:
        self.command({"push": path, "reply": reply})

    def requests(self, path: Optional[str] = CHAT) -> List[Dict[str, Any]]:
        return self.command({"requests": path})

    def last(self, path: Optional[str] = CHAT) -> Dict[str, Any]:
        sent = self.requests(path)
        assert sent, f"no request to {path}"
        return sent[-1]

    def open_connections(self) -> int:
        return int(self.command({"connections": True})["open"])

    def config(self, **extra: Any) -> Dict[str, Any]:
        """One vLLM backend serving model `m` here, no retries unless `retry` says."""
        backend = {"kind": "vllm", "base_url": self.base_url, "models": ["m"]}
        backend.update(extra.pop("backend", {}))
        return {"backends": [backend], "retry": {"max_attempts": 1}, **extra}

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def replay():
    server = Replay()
    yield server
    server.close()


@pytest.fixture
def client(replay):
    from aios_llm_core import Client

    return Client(replay.config())


@pytest.fixture(scope="session")
def live_url() -> str:
    url = os.environ.get("LLM_CORE_LIVE_URL")
    if not url:
        pytest.skip("LLM_CORE_LIVE_URL is not set (scripts/test starts a llama.cpp server and sets it)")
    return url


def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> str:
    """A streamed chunk's JSON text, in vLLM's shape."""
    return json.dumps(
        {
            "id": "chatcmpl-replay",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )
