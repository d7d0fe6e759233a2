"""Run a function in a process of its own, with a memory and a time limit.

For work on untrusted input (an uploaded spreadsheet) that could run away: if it needs
more memory than allowed it fails there (``RLIMIT_AS``: the allocation fails, Python raises
``MemoryError``), and if it runs too long the process is killed; the calling process, which
only waits, keeps its memory and its responsiveness either way.

Processes are started by a fork server that has imported the spreadsheet readers once
(:data:`PRELOAD`), so each starts in milliseconds rather than the second or two of a fresh
interpreter; :func:`warm_up` starts the server ahead of the first call.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, TypeVar, cast

from geo_service._errors import TooLargeError
from geo_service.i18n import Message, msg
from geo_service.table_limits import SETTINGS

T = TypeVar("T")

#: Modules the fork server imports once for every process it starts.
PRELOAD = ["geo_service.registry.imports", "geo_service.registry.store", "openpyxl"]

_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
_context = cast(ForkServerContext, multiprocessing.get_context(_METHOD))  # or spawn's
if _METHOD == "forkserver":
    _context.set_forkserver_preload(PRELOAD)


class IsolatedLimitError(TooLargeError):
    """The work went beyond its time or memory limit and was stopped (HTTP 413)."""


def run_isolated(func: Callable[..., T], /, *args: Any, memory_bytes: int | None,
                 seconds: float | None, nice: int = 0, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` in a new process limited to ``memory_bytes`` of address
    space and ``seconds`` of wall time (None: no limit), ``nice`` steps below this
    process's CPU priority (the server's requests go first); its result, or the exception
    it raised.

    ``func``, its arguments and its result must pickle (an exception that does not comes
    back as a :class:`RuntimeError` naming it). Raises :class:`IsolatedLimitError` when the
    process runs out of time or memory (or dies, with a memory limit; without one a
    :class:`RuntimeError`).
    """
    receiver, sender = _context.Pipe(duplex=False)
    process = _context.Process(target=_run_limited, daemon=True,
                               args=(sender, memory_bytes, nice, func, args, kwargs))
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            assert seconds is not None  # poll(None) waits for the answer
            raise _limit_error("seconds", msg("reading took longer than the limit of "
                                              "{seconds:g} s", seconds=seconds))
        ok, value = receiver.recv()
    except EOFError:  # the process died without an answer (out of memory, if limited)
        process.join(timeout=10)
        ok, value = False, MemoryError() if memory_bytes is not None else RuntimeError(
            f"the worker process stopped without an answer (exit code {process.exitcode})")
    finally:
        receiver.close()
        process.kill()
        process.join()
    if ok:
        return value
    if isinstance(value, MemoryError) and memory_bytes is not None:
        raise _limit_error("memory_bytes", msg("reading needs more memory than the limit of "
                                               "{n:,} bytes", n=memory_bytes))
    raise value


def _limit_error(limit: str, reason: Message) -> IsolatedLimitError:
    return IsolatedLimitError(reason, settings=SETTINGS[limit])


def _run_limited(sender: Connection, memory_bytes: int | None, nice: int,
                 func: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
    """The worker process: limit its memory and priority, run, send back (ok, result or
    error)."""
    if sys.platform != "win32":
        import os
        import resource

        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        os.nice(nice)
    try:
        answer: tuple[bool, Any] = (True, func(*args, **kwargs))
    except BaseException as e:  # sent to the caller, which raises it
        answer = (False, e)
    try:
        if not answer[0]:  # an error that pickles but does not unpickle (a result is sent as is)
            pickle.loads(pickle.dumps(answer[1]))
        sender.send(answer)
    except MemoryError:
        sender.send((False, MemoryError()))
    except Exception as e:  # an answer that does not pickle
        sender.send((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]} "
                                         f"({type(e).__name__}: {e})")))
    finally:
        sender.close()


def warm_up() -> None:
    """Start the fork server (importing :data:`PRELOAD`) now rather than at the first
    call: that takes a second or two."""
    run_isolated(int, memory_bytes=2**40, seconds=120)
