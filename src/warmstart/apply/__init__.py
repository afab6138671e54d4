"""Apply: the only stage that writes. Executes a plan's steps against a ``Source``:
:mod:`.execute` orders reads before writes (held or streamed), :mod:`.transform` turns stored
tensors into the values written (:mod:`.cast` refusing values a dtype cannot hold), :mod:`.stream` writes large tensors chunk by chunk,
:mod:`.writers` puts values into variables."""

from .execute import DEFAULT_MEMORY_BUDGET, Progress, execute

__all__ = ["DEFAULT_MEMORY_BUDGET", "Progress", "execute"]
