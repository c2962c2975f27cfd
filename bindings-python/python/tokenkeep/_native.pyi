"""Types of the native module (tokenkeep._native)."""

from types import TracebackType
from typing import Any, Awaitable, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Type, TypeVar, Union, final, overload

_T = TypeVar("_T")
_Self = TypeVar("_Self", bound="Verifier")

_Token = Union[str, bytes]
_Claims = Dict[str, Any]
_Json = Any

__all__ = [
    "Verifier",
    "RotationIterator",
    "metrics_snapshot",
    "_after_fork_in_child",
    "_at_exit",
    "_debug_panic",
    "__version__",
    "REJECTION_CODES",
    "EVENT_NAMES",
]

@final
class Verifier:
    """Verifies JWTs of one or several issuers; keys are fetched, cached and
    refreshed in the background. Keyword arguments are the shared options
    spec (schema/options.schema.json)."""

    def __new__(
        cls,
        issuer: Optional[Union[str, Sequence[str]]] = None,
        audience: Optional[Union[str, Sequence[str]]] = None,
        *,
        jwks_url: Optional[str] = None,
        jwks: Optional[Union[Dict[str, _Json], str]] = None,
        hmac_keys: Optional[List[Dict[str, str]]] = None,
        algorithms: Optional[Sequence[str]] = None,
        leeway: Optional[Union[float, str]] = None,
        spiffe_trust_domain: Optional[Union[str, Sequence[str]]] = None,
        policy: Optional[Dict[str, _Json]] = None,
        cache: Optional[Dict[str, _Json]] = None,
        http: Optional[Dict[str, _Json]] = None,
        dangerous_allow_http: Optional[bool] = None,
        issuers: Optional[List[Dict[str, _Json]]] = None,
    ) -> Verifier: ...
    @classmethod
    def from_jwks(
        cls,
        jwks: Union[Dict[str, _Json], str],
        *,
        issuer: Union[str, Sequence[str]],
        audience: Optional[Union[str, Sequence[str]]] = None,
        hmac_keys: Optional[List[Dict[str, str]]] = None,
        algorithms: Optional[Sequence[str]] = None,
        leeway: Optional[Union[float, str]] = None,
        spiffe_trust_domain: Optional[Union[str, Sequence[str]]] = None,
        policy: Optional[Dict[str, _Json]] = None,
        cache: Optional[Dict[str, _Json]] = None,
    ) -> Verifier: ...
    @overload
    def verify(self, token: _Token, *, now: Optional[float] = None, into: None = None) -> _Claims: ...
    @overload
    def verify(self, token: _Token, *, now: Optional[float] = None, into: Type[_T]) -> _T: ...
    @overload
    def verify_cached(self, token: _Token, *, now: Optional[float] = None, into: None = None) -> _Claims: ...
    @overload
    def verify_cached(self, token: _Token, *, now: Optional[float] = None, into: Type[_T]) -> _T: ...
    @overload
    def verify_async(self, token: _Token, *, now: Optional[float] = None, into: None = None) -> Awaitable[_Claims]: ...
    @overload
    def verify_async(self, token: _Token, *, now: Optional[float] = None, into: Type[_T]) -> Awaitable[_T]: ...
    def ready(self, timeout: float = 5.0) -> bool: ...
    def ready_async(self, timeout: float = 5.0) -> Awaitable[bool]: ...
    def health(self) -> List[Dict[str, Any]]: ...
    def refresh(self) -> bool: ...
    def close(self) -> None: ...
    @property
    def issuers(self) -> List[str]: ...
    @property
    def closed(self) -> bool: ...
    def rotations(self) -> RotationIterator: ...
    def on_rotation(self, callback: Callable[[int], object]) -> int: ...
    def remove_rotation_callback(self, id: int) -> None: ...
    def __enter__(self: _Self) -> _Self: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def __aenter__(self: _Self) -> Awaitable[_Self]: ...
    def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Awaitable[bool]: ...

@final
class RotationIterator:
    """``async for generation in handle.rotations()``: the counter after each
    rotation; ends when the handle closes."""

    @property
    def count(self) -> int: ...
    def __aiter__(self) -> RotationIterator: ...
    def __anext__(self) -> Awaitable[int]: ...

_MetricSample = Tuple[Dict[str, str], float, int, List[Tuple[float, int]]]

def metrics_snapshot() -> List[Tuple[str, str, Literal["counter", "gauge", "histogram"], List[_MetricSample]]]: ...
def _after_fork_in_child() -> None: ...
def _at_exit() -> None: ...
def _debug_panic() -> None: ...

__version__: str
REJECTION_CODES: List[str]
EVENT_NAMES: List[str]
