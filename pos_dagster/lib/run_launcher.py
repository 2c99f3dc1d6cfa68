"""A Dagster run launcher that forks each run worker from a warm process.

Dagster's ``DefaultRunLauncher`` asks the code server to start a run; the code server starts a
``multiprocessing`` *spawn* process, a fresh interpreter that imports dagster and the code location
again (seconds on a busy host) before the run's first event. On pos-sync's one-writer warehouse
runs go one at a time, so a webhook's sale waits for that boot twice (its run's, and the previous
run's), and every scheduled sync, monitoring and forecasting run pays it too.

``WarmRunLauncher`` keeps one **zygote** per code location: a Python process started with the code
location's interpreter and working directory that has imported dagster, loaded the code location's
repository (``pos_dagster.definitions``) and the instance's storage modules, and then waits. Each
run is a ``fork()`` of it running Dagster's own run-worker body (``dagster api execute_run``:
``_execute_run_command_body`` with the run's ``job_code_origin``), so the worker starts with the
definitions already in memory. An explicit zygote rather than ``multiprocessing``'s forkserver:
it runs the code location's interpreter in its working directory (not the daemon's), its warm-up
errors come back to the launcher instead of being swallowed, and it can be replaced when code
changes (the forkserver is one per process and cannot be restarted through a public API).

**Code changes are never ignored.** After warming, the zygote reports the source trees it loaded
from (every imported top-level package outside the interpreter's own library: ``pos_dagster``,
``pos_sync``, ``dlt_sources``, …) and the installed-packages directories. Before each launch the
launcher fingerprints them (path, mtime and size of every file of the trees but bytecode and
hidden files — modules, and the SQL or YAML they read —, the mtime of each ``site-packages``
directory: a few milliseconds) and, when the fingerprint changed (or the zygote exited), starts a
new zygote before forking: ``dagster dev`` users get their edited code in the next run (that run
pays the warm-up once, about what a cold start costs). A file changed while the zygote was warming
makes it stale at once. A code location *reload* is not itself a reason: what a reload re-reads
is these files, and ``dagster-daemon run`` replaces its code servers every 60 s (a new server id
each time) whether anything changed or not — re-warming on that would cost a warm-up a minute.

**Falls back to a cold start.** If the zygote cannot be warmed (an import error, a thread running
after the import — forking it would be unsafe — or a timeout), one warning is logged and the run
starts as ``python -m dagster api execute_run`` (what Dagster's Docker and Kubernetes launchers
run), until the sources change again. ``warm: false`` in the launcher's config always starts cold.

**Workers are ordinary processes of this host.** Each run carries the tag ``pos/run_worker``
(host, pid and the process's start time, so a reused pid is not mistaken for it): ``terminate``
sends the worker SIGTERM (Dagster's run worker turns it into an interrupt and the run ends
``CANCELED``) from any process on the host (the webserver's UI, a restarted daemon), and
``check_run_worker_health`` tells run monitoring whether the worker still runs. Workers stay in
the daemon's process group (a signal to the group — ``dagster dev``'s Ctrl-C — reaches them as it
reaches the code server's workers with the default launcher); a daemon that dies alone leaves them
running under that tag, still controllable. The zygote exits when the launcher closes its socket
(the daemon exits or dies).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import json
import logging
import os
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import Field
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData

if TYPE_CHECKING:
    from dagster._core.origin import JobPythonOrigin
    from dagster._core.storage.dagster_run import DagsterRun

WORKER_TAG = "pos/run_worker"
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")  # bytecode, editors' scratch files
# where this package was imported from: found by the zygote too (appended, so the code location's own
# working directory and PYTHONPATH come first)
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
ZYGOTE_ENTRY = ("import sys\n"
                f"sys.path.append({PACKAGE_ROOT!r}) if {PACKAGE_ROOT!r} not in sys.path else None\n"
                "from pos_dagster.lib.run_launcher import zygote_main\n"
                "zygote_main()\n")
LOG = logging.getLogger("pos_dagster.run_launcher")
# what pos-sync's steps import when they run, not the definitions (so that loading them stays cheap for
# the code server, the CLI and the cold-started workers): the zygote imports them after the definitions,
# so a forked worker finds them loaded as it did when the definitions imported them (numpy: pyarrow's,
# loaded with the definitions before through the product matcher)
STEP_MODULES = ("pos_sync.appstore", "pos_sync.appstore.db", "pos_sync.appstore.mappings",
                "pos_sync.appstore.monitoring", "pos_sync.appstore.product_stats", "pos_sync.appstore.sync_requests",
                "pos_sync.appstore.webhooks", "pos_sync.ingest.bookkeeping", "pos_sync.ingest.sync",
                "pos_sync.warehouse.pipelines", "pos_sync.canonical.build", "pos_sync.canonical.product_stats",
                "pos_sync.canonical.restate", "pos_sync.events.emit", "numpy")


# ---------------------------------------------------------------------------------------------
# process identity (a pid and its start time: a pid the kernel reused is another process)


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``, field 22), or
    None when there is no such live process (a zombie counts as gone). Elsewhere than Linux: 0
    for any process ``kill(pid, 0)`` reaches."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def worker_alive(pid: int, start: int) -> bool:
    ticks = process_start_ticks(pid)
    return ticks is not None and (start == 0 or ticks == 0 or ticks == start)


# ---------------------------------------------------------------------------------------------
# the fingerprint of the code a zygote loaded


@dataclass(frozen=True)
class Watch:
    """What a zygote's code came from: source trees (walked) and directories (their mtime only)."""

    trees: tuple[str, ...]
    dirs: tuple[str, ...]


def fingerprint(watch: Watch) -> tuple[str, int]:
    """(digest, newest mtime in ns) of every file of the source trees (its path, mtime and size:
    modules, and the SQL or YAML they read) but bytecode and hidden files, and of
    the installed-packages directories (their mtime: a package installed, upgraded or removed)."""
    digest = hashlib.blake2b(digest_size=16)
    newest = 0

    def add(path: str) -> None:
        nonlocal newest
        try:
            st = os.stat(path)
        except OSError:
            digest.update(f"{path}\0gone\n".encode())
            return
        digest.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        newest = max(newest, st.st_mtime_ns)

    for root in watch.trees:
        if not os.path.isdir(root):
            add(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            # not the directories' own mtimes: a run's first import of a module writes its __pycache__;
            # a file added or removed changes the list of paths hashed
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            for name in sorted(filenames):
                if not name.endswith(IGNORED_SUFFIXES) and not name.startswith("."):
                    add(os.path.join(dirpath, name))
    for directory in watch.dirs:
        add(directory)
    return digest.hexdigest(), newest


def loaded_sources() -> Watch:
    """In a warmed process: the top-level packages (or modules) imported from outside the
    interpreter's own library, and the installed-packages directories."""
    library = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p}
    installed = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages(),
                                               sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
                 if os.path.isdir(p)}

    def outside(path: str) -> bool:
        real = os.path.realpath(path)
        return not any(real == top or real.startswith(top + os.sep) for top in library | installed)

    trees: set[str] = set()
    for name in {name.partition(".")[0] for name in list(sys.modules)}:
        module = sys.modules.get(name)
        paths = list(getattr(module, "__path__", None) or [])
        file = getattr(module, "__file__", None)
        for path in paths or ([file] if file else []):
            if path and os.path.exists(path) and outside(path):
                trees.add(os.path.realpath(path))
    return Watch(trees=tuple(sorted(trees)), dirs=tuple(sorted(installed)))


# ---------------------------------------------------------------------------------------------
# the zygote (its own process)


def _send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def zygote_main() -> None:
    """The zygote's loop: warm (the first request), then one ``fork()`` per launch request; exits
    when the launcher closes the socket."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    requests = sock.makefile("rb")
    warm = json.loads(requests.readline() or b"{}")
    try:
        started = time.monotonic()
        from dagster._cli.api import _execute_run_command_body  # noqa: F401  (the worker's body)
        from dagster._cli.utils import get_instance_for_cli  # noqa: F401
        from dagster._core.instance import InstanceRef
        from dagster._core.origin import RepositoryPythonOrigin
        from dagster._serdes import deserialize_value
        from dagster._utils.hosted_user_process import recon_repository_from_origin

        origin = deserialize_value(warm["repository_origin"], RepositoryPythonOrigin)
        recon_repository_from_origin(origin).get_definition()  # imports and resolves the definitions
        if "pos_dagster.definitions" in sys.modules:  # pos-sync's code location: what its steps import too
            for module in STEP_MODULES:
                __import__(module)
        ref = deserialize_value(warm["instance_ref"], InstanceRef)
        for value in ref:  # the storages, compute log manager, … the worker's instance loads
            if isinstance(value, ConfigurableClassData):
                __import__(value.module_name)
        if threading.active_count() > 1:
            names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
            raise RuntimeError(f"threads running after the warm-up ({names}): forking would be unsafe")
        watch = loaded_sources()
        # everything loaded so far leaves the collector's generations: the workers' collections neither
        # scan it nor write to its pages (copy-on-write keeps them shared with this process)
        gc.collect()
        gc.freeze()
        _send(sock, {"ok": True, "seconds": round(time.monotonic() - started, 3), "pid": os.getpid(),
                     "trees": list(watch.trees), "dirs": list(watch.dirs)})
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the launcher
        try:
            watch = loaded_sources()  # what it read so far: its change ends the cold starts
        except Exception:  # noqa: BLE001
            watch = Watch((), ())
        _send(sock, {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                     "traceback": traceback.format_exc(), "trees": list(watch.trees), "dirs": list(watch.dirs)})
        os._exit(1)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers: no zombies
    # a signal to the daemon's group (dagster dev's Ctrl-C) ends the zygote quietly; its workers
    # restore the defaults and handle it as Dagster's run workers do
    signal.signal(signal.SIGINT, _quit)
    signal.signal(signal.SIGTERM, _quit)
    while True:
        line = requests.readline()
        if not line:
            os._exit(0)
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            requests.close()
            _run_worker(sock, request["execute_run_args"])  # never returns
        _send(sock, {"pid": pid, "start": process_start_ticks(pid) or 0})


def _quit(_signum: int, _frame: Any) -> None:
    os._exit(0)


def _run_worker(sock: socket.socket, execute_run_args: str) -> None:
    """A forked run worker: ``dagster api execute_run``'s body, then the interpreter's exit
    handlers (as a spawned worker's exit would run them), then ``os._exit``."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run's own subprocesses are waited for
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sock.close()
        from dagster._cli.api import _execute_run_command_body
        from dagster._cli.utils import get_instance_for_cli
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import deserialize_value
        from dagster._utils.interrupts import capture_interrupts

        args = deserialize_value(execute_run_args, ExecuteRunArgs)
        with capture_interrupts(), get_instance_for_cli(instance_ref=args.instance_ref) as instance:
            code = _execute_run_command_body(args.run_id, instance, lambda _event: None,
                                             set_exit_code_on_failure=bool(args.set_exit_code_on_failure))
    except BaseException:  # noqa: BLE001 - a worker never returns into the zygote's loop
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# ---------------------------------------------------------------------------------------------
# the launcher side (the daemon; terminate and health checks from any process of the host)


class WarmUpFailed(RuntimeError):
    def __init__(self, message: str, watch: Watch | None = None) -> None:
        super().__init__(message)
        self.watch = watch or Watch((), ())


COLD_RETRY_SECONDS = 300.0  # a warm-up that failed before telling what it loaded is tried again after


@dataclass
class ColdUntil:
    """A code location whose warm-up failed: cold starts until its sources change."""

    watch: Watch
    digest: str
    retry_at: float

    def over(self) -> bool:
        if self.watch.trees:
            return fingerprint(self.watch)[0] != self.digest
        return time.monotonic() >= self.retry_at


@dataclass
class Zygote:
    key: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    watch: Watch
    fingerprint: str
    warm_seconds: float
    replies: Any = field(default=None)

    def fork(self, execute_run_args: str, timeout: float) -> tuple[int, int, int]:
        self.sock.settimeout(timeout)
        _send(self.sock, {"execute_run_args": execute_run_args})
        line = self.replies.readline()
        if not line:
            raise WarmUpFailed(f"the warm process (pid {self.proc.pid}) exited (code {self.proc.poll()})")
        reply = json.loads(line)
        return int(reply["pid"]), int(reply["start"]), self.proc.pid

    def close(self) -> None:
        """Closing the socket ends the zygote (its workers go on)."""
        for closable in (self.replies, self.sock):
            with contextlib.suppress(OSError):
                closable.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Starts each run's worker by forking a process that has already loaded the code location
    (module docstring); falls back to a cold ``dagster api execute_run`` process."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, warm: bool = True,
                 warm_timeout_seconds: float = 180.0) -> None:
        self._inst_data = inst_data
        self.warm = warm and hasattr(os, "fork")  # no fork (Windows): every run starts cold
        self.warm_timeout_seconds = warm_timeout_seconds
        self._lock = threading.RLock()
        self._zygotes: dict[tuple[str, ...], Zygote] = {}
        self._cold_until: dict[tuple[str, ...], ColdUntil] = {}
        self._cold: list[subprocess.Popen[bytes]] = []
        self._run_ids: set[str] = set()
        self._warmed_because = ""
        super().__init__()

    # -- ConfigurableClass

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "warm": Field(bool, is_required=False, default_value=True,
                          description="fork run workers from a warm process (false: always start cold)"),
            "warm_timeout_seconds": Field(float, is_required=False, default_value=180.0,
                                          description="longest warm-up (or fork) before a cold start"),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    # -- launching

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._core.events import EngineEventData
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value

        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None:
            raise WarmUpFailed(f"run {run.run_id} has no job code origin")
        args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref(),
                              set_exit_code_on_failure=True)
        payload = serialize_value(args)
        with self._lock:
            self._reap_cold()
            worker = self._fork_warm(origin, payload) if self.warm else None
            mode = "warm"
            if worker is None:
                mode = "cold"
                worker = self._spawn_cold(origin, args)
        pid, start = worker[0], worker[1]
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: json.dumps(
            {"host": socket.gethostname(), "pid": pid, "start": start, "mode": mode})})
        how = f"forked from the warm process {worker[2]}" if mode == "warm" else "cold start"
        if mode == "warm" and self._warmed_because:
            how += f", {self._warmed_because}"
        self._instance.report_engine_event(f"Run worker launched (pid: {pid}, {how}).", run,
                                           EngineEventData.in_process(pid), cls=self.__class__)
        self._run_ids.add(run.run_id)

    def _key(self, origin: JobPythonOrigin) -> tuple[str, ...]:
        from dagster._serdes import serialize_value

        repo = origin.repository_origin
        return (repo.executable_path or sys.executable, serialize_value(repo.code_pointer), self._cwd(origin))

    @staticmethod
    def _cwd(origin: JobPythonOrigin) -> str:
        return getattr(origin.repository_origin.code_pointer, "working_directory", None) or os.getcwd()

    def _fork_warm(self, origin: JobPythonOrigin, payload: str) -> tuple[int, int, int] | None:
        key = self._key(origin)
        zygote = self._zygotes.get(key)
        why = "first run"
        if zygote is not None:
            why = ("its sources changed" if fingerprint(zygote.watch)[0] != zygote.fingerprint
                   else "the warm process had exited" if zygote.proc.poll() is not None else "")
            if why:
                LOG.info("warm run launcher: %s, warming a new process", why)
                self._drop(key)
                zygote = None
        if zygote is None:
            cold = self._cold_until.get(key)
            if cold is not None and not cold.over():
                return None  # warming failed on these very sources: cold until they change
            self._cold_until.pop(key, None)
            try:
                zygote = self._start_zygote(key, origin)
            except Exception as exc:  # noqa: BLE001 - any failure: one line, then a cold start
                LOG.warning("warm run launcher: warming failed, starting runs cold until the code changes: %s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                watch = exc.watch if isinstance(exc, WarmUpFailed) else Watch((), ())
                self._cold_until[key] = ColdUntil(watch, fingerprint(watch)[0],
                                                  time.monotonic() + COLD_RETRY_SECONDS)
                return None
            self._zygotes[key] = zygote
            self._warmed_because = f"warmed for this run in {zygote.warm_seconds:.1f} s: {why}"
        else:
            self._warmed_because = ""
        try:
            return zygote.fork(payload, self.warm_timeout_seconds)
        except (OSError, ValueError, WarmUpFailed) as exc:
            LOG.warning("warm run launcher: the warm process failed to fork (%s): starting this run cold", exc)
            self._drop(key)
            return None

    def _start_zygote(self, key: tuple[str, ...], origin: JobPythonOrigin) -> Zygote:
        from dagster._serdes import serialize_value

        began = time.time_ns()
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen([key[0], "-c", ZYGOTE_ENTRY, str(theirs.fileno())], cwd=key[2],
                                stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()])
        theirs.close()
        replies = ours.makefile("rb")
        try:
            ours.settimeout(self.warm_timeout_seconds)
            _send(ours, {"repository_origin": serialize_value(origin.repository_origin),
                         "instance_ref": serialize_value(self._instance.get_ref())})
            line = replies.readline()
            reply = json.loads(line) if line else {"ok": False, "error": f"exited (code {proc.wait(timeout=10)})"}
            if not reply.get("ok"):
                LOG.debug("warm run launcher: the warm-up's traceback:\n%s", reply.get("traceback", ""))
                raise WarmUpFailed(f"the warm process: {reply.get('error')}",
                                   Watch(tuple(reply.get("trees", ())), tuple(reply.get("dirs", ()))))
        except BaseException:
            Zygote((), proc, ours, Watch((), ()), "", 0.0, replies).close()
            raise
        watch = Watch(trees=tuple(reply["trees"]), dirs=tuple(reply["dirs"]))
        digest, newest = fingerprint(watch)
        if began <= newest <= time.time_ns():
            digest = "changed while warming"  # never equal: the next launch warms again
        LOG.info("warm run launcher: run worker process warmed in %.1f s (pid %s)", reply["seconds"], proc.pid)
        return Zygote(key, proc, ours, watch, digest, float(reply["seconds"]), replies)

    def _drop(self, key: tuple[str, ...]) -> None:
        zygote = self._zygotes.pop(key, None)
        if zygote is not None:
            zygote.close()

    def _spawn_cold(self, origin: JobPythonOrigin, args: Any) -> tuple[int, int, int]:
        """``dagster api execute_run`` in a new interpreter (the Docker/K8s launchers' command)."""
        from dagster._core.origin import get_python_environment_entry_point
        from dagster._serdes import serialize_value

        # the code location's interpreter (`python -m dagster`: no `dagster` script on PATH needed)
        command = [*get_python_environment_entry_point(self._key(origin)[0]), "api", "execute_run"]
        env = {**os.environ, "DAGSTER_EXECUTE_RUN_ARGS": serialize_value(args)}
        proc = subprocess.Popen(command, cwd=self._cwd(origin), env=env, stdin=subprocess.DEVNULL)
        self._cold.append(proc)
        return proc.pid, process_start_ticks(proc.pid) or 0, os.getpid()

    def _reap_cold(self) -> None:
        self._cold = [proc for proc in self._cold if proc.poll() is None]

    # -- terminate, health

    @staticmethod
    def worker_of(run: DagsterRun) -> dict[str, Any] | None:
        raw = run.tags.get(WORKER_TAG)
        if not raw:
            return None
        try:
            worker = json.loads(raw)
            return {"host": str(worker["host"]), "pid": int(worker["pid"]), "start": int(worker.get("start", 0)),
                    "mode": str(worker.get("mode", ""))}
        except (ValueError, KeyError, TypeError):
            return None

    def terminate(self, run_id: str) -> bool:
        if not self.has_instance:
            return False
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = self.worker_of(run)
        if worker is None or worker["host"] != socket.gethostname():
            where = "no run worker recorded" if worker is None else f"its worker runs on {worker['host']}"
            self._instance.report_engine_event(f"Unable to terminate the run: {where}.", run, cls=self.__class__)
            return False
        if not worker_alive(worker["pid"], worker["start"]):
            self._instance.report_engine_event(
                f"Unable to terminate the run: its worker (pid {worker['pid']}) is gone.", run, cls=self.__class__)
            return False
        try:
            os.kill(worker["pid"], signal.SIGTERM)  # Dagster's worker: an interrupt, the run ends CANCELED
        except ProcessLookupError:
            return False
        return True

    def get_run_worker_debug_info(self, run: DagsterRun, include_container_logs: bool | None = True) -> str | None:
        worker = self.worker_of(run)
        if worker is None:
            return None
        here = worker["host"] == socket.gethostname()
        state = ("alive" if worker_alive(worker["pid"], worker["start"]) else "gone") if here else "on another host"
        return f"run worker pid {worker['pid']} on {worker['host']} ({worker['mode']} start): {state}"

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = self.worker_of(run)
        if worker is None:  # launched by another launcher: nothing to check, the timeouts apply
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker recorded: not checked")
        if worker["host"] != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker on {worker['host']}: not checked here")
        if worker_alive(worker["pid"], worker["start"]):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker["pid"]))
        current = self._instance.get_run_by_id(run.run_id) if self.has_instance else None
        if current is not None and current.is_finished:
            status = WorkerStatus.SUCCESS if current.is_success else WorkerStatus.FAILED
            return CheckRunHealthResult(status, f"worker (pid {worker['pid']}) exited", run_worker_id=str(worker["pid"]))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {worker['pid']} is gone",
                                    run_worker_id=str(worker["pid"]))

    # -- lifecycle

    def join(self, timeout: int = 30) -> None:
        if not self.has_instance:
            return
        deadline = time.monotonic() + timeout
        while True:
            active = [rid for rid in self._run_ids
                      if (r := self._instance.get_run_by_id(rid)) is not None and not r.is_finished]
            if not active:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Timed out waiting for these runs to finish: {active!r}")
            time.sleep(0.1)

    def dispose(self) -> None:
        with self._lock:
            for key in list(self._zygotes):
                self._drop(key)
            self._reap_cold()


__all__: Sequence[str] = ["WORKER_TAG", "WarmRunLauncher", "zygote_main"]
