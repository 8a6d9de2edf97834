"""aios-llm-core for Python: the AIOS LLM core (a sandboxed WebAssembly component run by the
wasmtime host built into this package) — chat, JSON and tool-call output, streaming,
suspend/resume, token counts and embeddings against vLLM, SGLang and llama.cpp.

    from aios_llm_core import Client
    client = Client({"backends": [{"kind": "vllm", "base_url": "http://127.0.0.1:8000/v1"}]})
    print(client.chat("Say hi").content)

`aios_llm_core.aios` adapts it to AIOS's LLM core (see the repository README, "Python").
"""

from ._stream import AsyncChatStream, ChatStream
from ._types import (
    BackendHealth,
    ChatResponse,
    Checkpoint,
    ContentDelta,
    Done,
    Embeddings,
    InvalidToolCall,
    LogprobsDelta,
    ModelInfo,
    ReasoningDelta,
    StreamEvent,
    TokenCount,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    TopLogprob,
    Usage,
)
from .client import AsyncClient, Client
from .config import ClientConfig, HostOptions
from .errors import *  # noqa: F403 (the exception classes, listed in errors.__all__)
from .errors import __all__ as _errors

__version__ = "0.1.0"

__all__ = [
    "AsyncChatStream",
    "AsyncClient",
    "BackendHealth",
    "ChatResponse",
    "ChatStream",
    "Checkpoint",
    "Client",
    "ClientConfig",
    "ContentDelta",
    "Done",
    "Embeddings",
    "HostOptions",
    "InvalidToolCall",
    "LogprobsDelta",
    "ModelInfo",
    "ReasoningDelta",
    "StreamEvent",
    "TokenCount",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "TopLogprob",
    "Usage",
    *_errors,
]
