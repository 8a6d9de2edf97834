"""Client configurations and host limits.

A configuration is one of: a dict with the keys of our TOML file (`backends`, `default-model`,
`routing`, `timeouts`, ... — snake_case keys are accepted too, see the repository README,
"Several backends"), a path to such a `.toml` file, a path to AIOS's `config.yaml` (its
`llms:` section; a dict with an `llms` key is read the same way), or a `ClientConfig`. It is
checked by the same code as the CLI's `--config`. `repr` never shows an API key.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _native
from .errors import error_from_record

ConfigSource = Union["ClientConfig", Mapping[str, Any], str, "os.PathLike[str]"]


def _kebab(value: Any) -> Any:
    """Our TOML's key spelling (kebab case), None values dropped (TOML has no null)."""
    if isinstance(value, Mapping):
        return {str(k).replace("_", "-"): _kebab(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_kebab(v) for v in value]
    return value


class ClientConfig:
    """A checked client configuration: `backends`, `default_model` and `routing` are readable;
    `skipped` lists AIOS entries this core does not serve, as `(model, backend)`."""

    def __init__(self, kind: str, text: str) -> None:
        try:
            summary = json.loads(_native.parse_config(kind, text))
        except _native.NativeError as e:
            raise error_from_record(e.args[0]) from None
        self._kind = kind
        self._text = text
        self.backends: List[Dict[str, Any]] = summary["config"]["backends"]
        self.default_model: Optional[str] = summary["config"]["default_model"]
        self.routing: Optional[str] = summary["config"]["routing"]
        self.skipped: List[Tuple[str, str]] = [(str(s[0]), str(s[1])) for s in summary["skipped"]]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ClientConfig":
        if "llms" in d:  # AIOS's config.yaml, loaded already (JSON is YAML)
            return cls("yaml", json.dumps(d))
        return cls("json", json.dumps(_kebab(d)))

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "ClientConfig":
        """Our TOML file, or AIOS's config.yaml (`.yaml`/`.yml`)."""
        return cls("file", os.fspath(path))

    @classmethod
    def from_toml(cls, text: str) -> "ClientConfig":
        return cls("toml", text)

    @classmethod
    def from_aios_yaml(cls, text: str) -> "ClientConfig":
        return cls("yaml", text)

    @classmethod
    def single(cls, base_url: str, kind: str = "auto", **backend: Any) -> "ClientConfig":
        """One backend at `base_url` (`kind`: auto, vllm, sglang, openai-compatible)."""
        return cls.from_dict({"backends": [dict(backend, kind=kind, base_url=base_url)]})

    @classmethod
    def of(cls, source: ConfigSource) -> "ClientConfig":
        if isinstance(source, ClientConfig):
            return source
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        return cls.from_file(source)

    def _native_args(self) -> Tuple[str, str]:
        return self._kind, self._text

    def __repr__(self) -> str:
        # The summary holds no keys (`has_api_key` says whether there is one).
        return f"ClientConfig(backends={self.backends!r}, default_model={self.default_model!r}, routing={self.routing!r})"


@dataclass
class HostOptions:
    """The host's sandbox and limits for a client (None: the host's default). By default a
    client may reach exactly its configured backends; `allowed_origins` (`scheme://host:port`)
    narrows or widens that."""

    allowed_origins: Optional[List[str]] = None
    max_concurrent_calls: Optional[int] = None
    max_memory_bytes: Optional[int] = None
    max_response_bytes: Optional[int] = None
    max_timeout_ms: Optional[int] = None
    max_call_duration_ms: Optional[int] = None
    queue_timeout_ms: Optional[int] = None
    max_cpu_time_ms: Optional[int] = None
    extra_root_certificates: Optional[List[str]] = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})
