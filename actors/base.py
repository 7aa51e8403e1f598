"""The actor base: deadline checks, bound log context, crash → restart, and stable handles.

Domain errors (``BrokerError``) are answers, not crashes. Anything else
raised while handling a message is a crash: the caller of that one message
gets a clear error, the actor refuses everything after it, stops, and its
supervisor starts a fresh one (pykka has no supervision of its own).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import pykka
import structlog

from actors.activity import DATA_CENTRE, Activity, Cause, Spent, current, waiting
from actors.messages import Message
from broker.codes import Code
from broker.errors import BrokerError
from broker.logging import bound

R = TypeVar("R")
CrashReport = Callable[[BaseException], None]  # told the exception an actor crashed with
UnavailableCode = Callable[[object], Code]  # the code for a message an actor cannot serve now


class ActorUnavailableError(BrokerError):
    """The actor crashed, is restarting, or did not answer in time."""


class StateMovedError(BrokerError):
    """A card actor's state is no longer what a direct message expected (see ``Expecting``)."""


class DeadlineError(BrokerError):
    """The caller's deadline passed before the work could start."""


Handlers = Mapping[type[Message[Any]], Callable[[Any], Any]]


@dataclass(frozen=True)
class Supervised:
    """What the supervisor gives each actor it starts: its name, what it calls when it
    crashes, where its time is counted (actors/activity.py)."""

    name: str
    on_crash: CrashReport
    activity: Activity


class BrokerActor(pykka.ThreadingActor):
    """Dispatches each message to its handler in the actor's table; reports crashes."""

    use_daemon_thread = True
    crash_code: Code = Code.PCSC_OTHER  # what a caller sees when this kind of actor crashes

    def __init__(self, supervised: Supervised) -> None:
        super().__init__()
        self.name = supervised.name
        self._on_crash = supervised.on_crash
        self.activity = supervised.activity
        self._crashed = False
        self.log = structlog.get_logger(f"actors.{type(self).__name__}").bind(actor=self.name)
        self._handlers = self.handlers()

    def handlers(self) -> Handlers:
        """Each message type this actor takes, and the method that answers it."""
        return {}

    def on_receive(self, message: Any) -> Any:
        """Run the message's handler, unless its caller has gone or the actor crashed."""
        if self._crashed:
            code = self.unavailable_code(message)
            raise ActorUnavailableError(f"{self.name} is restarting", code=code)
        previous = self.activity.enter(self.time_of(message))
        try:
            return self._dispatch(message)
        except BrokerError:
            raise
        except Exception as exc:
            log = self.log
            if isinstance(message, Message):
                log = log.bind(**message.context.log_fields())
            self._crash(exc, log)
            raise ActorUnavailableError(
                f"{self.name} failed and is being restarted", code=self.unavailable_code(message)
            ) from exc
        finally:
            self.activity.leave(previous)

    def time_of(self, message: object) -> Cause | None:
        """Whom the time spent on ``message`` counts for, if not this actor (its own)."""
        return None

    def unavailable_code(self, message: object) -> Code:
        """The code a caller of ``message`` gets while this actor restarts: its kind's."""
        return self.crash_code

    def _dispatch(self, message: object) -> Any:
        if not isinstance(message, Message):
            raise TypeError(f"{self.name} got a {type(message).__name__}, not a Message")
        if message.expired():
            self.log.info("actor.skipped_expired", message=type(message).__name__)
            raise DeadlineError(f"{type(message).__name__} reached {self.name} too late")
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"{self.name} has no handler for {type(message).__name__}")
        # Every line logged while it runs (the actor's, APDU traces, library records)
        # carries the request's context.
        with bound(message.context.log_fields()):
            return handler(message)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A told message crashed the actor: report it so it is restarted."""
        if exception_value is not None and not self._crashed:
            self._crash(exception_value, self.log, stopping=True)

    def inbox_depth(self) -> int:
        """Messages waiting (for the admin API and metrics)."""
        return _depth(self.actor_inbox)

    def at_dc(self, work: Callable[[], R]) -> R:
        """A data-centre call: the time it takes is the DC's (a call that waits behind it and
        runs out of time is answered with the DC's code, not this actor's)."""
        with waiting(DATA_CENTRE):
            return work()

    def _crash(self, exc: BaseException, log: Any, *, stopping: bool = False) -> None:
        self._crashed = True
        # The traceback, rendered without locals (broker/logging.py): a PIN in a local
        # variable must not reach the log.
        log.error("actor.crashed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        if not stopping:  # pykka stops an actor whose told message failed by itself
            self.stop()  # queued behind what is waiting; those get ActorUnavailableError
        self._on_crash(exc)


class ActorHandle:
    """A stable name for an actor whose ref changes at every restart."""

    def __init__(
        self,
        name: str,
        ref: pykka.ActorRef[Any],
        timeout_code: Code,
        codes: UnavailableCode | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.name = name
        self._ref = ref
        self._activity = activity or Activity(Cause(timeout_code, name))
        self._lock = threading.Lock()
        self.timeout_code = timeout_code
        self._codes = codes
        self.restarts = 0

    def code_for(self, message: object) -> Code:
        """The code a caller of ``message`` gets when the actor is restarting or late."""
        return self._codes(message) if self._codes is not None else self.timeout_code

    @property
    def ref(self) -> pykka.ActorRef[Any]:
        """The current actor."""
        with self._lock:
            return self._ref

    @property
    def activity(self) -> Activity:
        """Where the current actor's time goes."""
        with self._lock:
            return self._activity

    def replace(self, ref: pykka.ActorRef[Any], activity: Activity) -> None:
        """Point at a restarted actor (its time is counted afresh)."""
        with self._lock:
            self._ref, self._activity = ref, activity
            self.restarts += 1

    def ask(self, message: Message[R]) -> R:
        """Ask with the message's own deadline; actor trouble becomes a clear BrokerError.

        An answer that was forwarded is waited for where it is made.
        """
        answer: Any = self.forward(message)
        while isinstance(answer, Forwarded):
            answer = answer.wait(message.remaining())
        return cast("R", answer)

    def forward(self, message: Message[Any]) -> Forwarded:
        """Send without waiting: the answer, for whoever waits on it (see ``Forwarded``)."""
        code = self.code_for(message)
        if message.remaining() <= 0:
            raise DeadlineError(f"no time left to ask {self.name}", code=code)
        with self._lock:
            ref, activity = self._ref, self._activity
        return Forwarded(
            ref.ask(message, block=False), self.name, code, activity, activity.totals()
        )

    def tell(self, message: Message[Any]) -> None:
        """Tell; a dead actor's messages are dropped (its replacement starts fresh)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.ref.tell(message)

    def is_alive(self) -> bool:
        """Whether the current actor runs."""
        return self.ref.is_alive()

    def inbox_depth(self) -> int:
        """Messages waiting in the current actor's inbox."""
        return _depth(self.ref.actor_inbox) if self.ref.is_alive() else 0


@dataclass(frozen=True)
class Forwarded:
    """An answer still being made by another actor; whoever asked waits for it there.

    An actor whose last step is to ask another (a station's card read, a card
    actor's conversation with its reader) returns ``handle.forward(...)``
    instead of waiting: the answer then goes straight to the original caller,
    not back through every actor on the way (each hand-off is a thread wake-up
    on the reply's path), and the forwarding actor is free meanwhile. Only for
    a last step: the forwarding actor never learns the outcome.
    """

    future: pykka.Future[Any]
    name: str  # the actor asked
    code: Code  # what the caller gets if the actor is restarting, or late on its own account
    activity: Activity  # the asked actor's
    sent: Spent  # what it had spent when the message was sent

    def wait(self, timeout: float) -> Any:
        """The answer (perhaps forwarded again); actor trouble as a clear BrokerError."""
        name, code = self.name, self.code
        if timeout <= 0:
            raise DeadlineError(f"no time left to wait for {name}", code=code)
        waiter = current()  # the asking actor, if an actor asks: its time goes to this one
        if waiter is not None:
            waiter.begin(self.activity)
        try:
            return self.future.get(timeout=timeout)
        except pykka.Timeout as exc:
            raise self.late() from exc
        except pykka.ActorDeadError as exc:
            raise ActorUnavailableError(f"{name} is restarting", code=code) from exc
        finally:
            if waiter is not None:
                waiter.end()

    def late(self) -> ActorUnavailableError:
        """No answer in time: with the code of what held it up since it was sent.

        The asked actor's own work keeps its code (a SAM that did not answer is
        1300); time that went to the data centre, or to a reader the actor
        waited on, is theirs (1700, 1202): a call queued behind slow DC calls
        is the DC's.
        """
        cause = self.activity.blame(self.sent)
        text = f"{self.name} did not answer in time"
        if cause is None or cause == self.activity.own:
            return ActorUnavailableError(text, code=self.code)
        return ActorUnavailableError(f"{text}: held up by {cause.what}", code=cause.code)


def _depth(inbox: Any) -> int:
    """Messages waiting in a threading actor's inbox (a ``queue.Queue``)."""
    return int(inbox.qsize())
