"""Relay throughput and latency, side by side: sink alone, the gateway, Postfix.

    .venv/bin/python bench/relay.py                 # full run (make bench)
    .venv/bin/python bench/relay.py --quick         # a short smoke run
    .venv/bin/python bench/relay.py --only sqlite,postfix --sizes 2
    .venv/bin/python bench/relay.py --only sqlite --profile py-spy
    .venv/bin/python bench/relay.py --only sqlite --before HEAD~1 --repeat 3
    .venv/bin/python bench/relay.py --only sqlite,noaudit --sizes typical --repeat 8
                                # staff mail (bench/typical_mail.py) instead of lorem
    .venv/bin/python bench/relay.py --only sqlite,noaudit --sizes typical --rate 50
                                # paced: 50 messages/s offered, at random times

Scenarios (each started fresh for each message size, stopped afterwards):

    sink       clients -> the sink alone: the ceiling of this machine
    sqlite     clients -> 1 gateway process (SQLite queue) -> sink
    before     the same with another commit's gateway (--before REV, from a
               git worktree): a change measured against the code before it;
               or under another interpreter (--before-python PATH)
    noaudit    the same with the audit trail's writes switched off
               (bench/no_audit.py): what the audit record costs (issue #7)
    postgres   clients -> 2 gateway processes sharing one new PostgreSQL
               database (created, migrated, dropped) -> sink
    pgnoaudit  the same with the audit trail's writes switched off: what the
               trail costs two processes that share one chain (issue #7)
    pgbefore   `postgres` with the gateway at --before (asked for by name)
    postfix    clients -> a throwaway Postfix plain relay -> sink
               (bench/postfix/instance.sh; skipped when not installed)

The sink and the client are separate processes (see bench/common.py).  Per
scenario and size: after a warm-up, messages/s that got 250 inside the window,
end-of-data -> 250 latency p50/p99 as the client sees it, then the queue is
drained and the sink must have received every accepted message.  All on
127.0.0.1; every child runs in its own process group and is killed on exit.

By default the clients send as fast as the relay answers: the rate is the
relay's ceiling.  `--rate N` offers N messages a second instead, at random
times (Poisson arrivals), the way a gateway in service is loaded, far below
its ceiling: the figures are then what a sender waits (p50/p99) and what the
relay's CPU is busy with at that load, and the audit trail's cost is read in
those (`_paced_cost`) rather than in a rate both runs keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from common import (
    LOOPBACK,
    Child,
    ClientSpec,
    free_port,
    machine_cpu,
    pg_database,
    session_cpu_seconds,
    sink_counts,
    thread_cpu_seconds,
    wait_for_smtp,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
POSTFIX = Path("/usr/sbin/postfix")
POSTFIX_SCRIPT = BENCH / "postfix" / "instance.sh"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCENARIOS = ("sink", "sqlite", "before", "noaudit", "postgres", "pgnoaudit", "pgbefore",
             "postfix")
BEFORE = ("before", "pgbefore")
# `before` and `pgbefore` need --before REV, so they are not run unless asked for.
DEFAULT_SCENARIOS = ("sink", "sqlite", "noaudit", "postgres", "pgnoaudit", "postfix")
GATEWAYS = ("sqlite", "before", "noaudit", "postgres", "pgnoaudit", "pgbefore")
LABELS = {
    "sink": "sink alone (aiosmtpd)",
    "sqlite": "gateway x1, SQLite",
    "before": "the same, at --before",
    "noaudit": "gateway x1, no audit",
    "postgres": "gateway x2, PostgreSQL",
    "pgnoaudit": "gateway x2, PG, no audit",
    "pgbefore": "PG x2, at --before",
    "postfix": "Postfix plain relay",
}
# Settings the bench itself decides; an environment override would break it.
_OWN_OVERRIDES = re.compile(
    r"^GATEWAY_(CONFIG|DATABASE_.*|SERVER_LISTEN|SERVER_TRUSTED_NETWORKS|UPSTREAM_(HOST|PORT|TLS)"
    r"|METRICS_LISTEN)$"
)
TARGETS = {2048: 1.5, 204800: 1.0}  # gateway x1 / Postfix, from issue 3
# What the audit trail costs (issue 7): each gateway scenario against its twin without it.
AUDIT_PAIRS = (("sqlite", "noaudit"), ("postgres", "pgnoaudit"))
AUDIT_LABELS = {"noaudit": "audit trail (SQLite)", "pgnoaudit": "audit trail (PostgreSQL)"}


class Skip(Exception):
    """A scenario that cannot run here (not an error)."""


@dataclass
class Result:
    scenario: str
    size: int
    seconds: float = 0.0
    rate: float = 0.0  # 250s per second inside the window
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    accepted: int = 0  # every 250, warm-up and tail included
    refused: int = 0  # every policy refusal (550 5.7.1): the sink gets its notice to the sender
    delivered: int = 0  # what the sink received for this run
    drain_s: float = 0.0  # end of load -> sink has everything
    e2e_rate: float = 0.0  # delivered / (first send -> last delivery)
    errors: dict[str, int] = field(default_factory=dict)
    relay_ms_per_msg: float = 0.0  # CPU of the system under test per delivered message
    cpu_relay: float = 0.0  # % of one core, over the window
    cpu_sink: float = 0.0
    cpu_client: float = 0.0
    cpu_machine: float = 0.0
    # The gateway's event-loop thread(s): % of one core over the window, and
    # ms per message accepted in it.  The loop is what one process can never
    # have more than one of: at 100% it sets the rate.
    cpu_loop: float = 0.0
    loop_ms_per_msg: float = 0.0
    background: float = 0.0  # % of one core busy just before the run (other work)
    skipped: str = ""
    failed: str = ""
    round: int = 0  # with --repeat: which round of the scenarios this run belongs to
    offered: float = 0.0  # --rate: messages/s offered; 0: as fast as the relay answers
    late: int = 0  # --rate: sends more than 1 s after their time (the rate was not kept)


# --------------------------------------------------------------------------
# the system under test


@dataclass
class Running:
    """What a scenario started: the ports clients use and the CPU sessions to watch."""

    ports: list[int]
    sessions: list[int]
    pids: list[int] = field(default_factory=list)  # Python processes (for py-spy)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.children: list[Child] = []
        self.env = {k: v for k, v in os.environ.items() if not _OWN_OVERRIDES.match(k)}
        self.profiles: list[Path] = []

    # -- children --------------------------------------------------------

    def spawn(self, name: str, argv: list[str], log: str, cwd: Path = ROOT) -> Child:
        child = Child(name, argv, self.workdir / log, env=self.env, cwd=cwd)
        self.children.append(child)
        return child

    def stop_child(self, child: Child, grace: float = 25.0) -> None:
        code = child.stop(grace)
        if child in self.children:
            self.children.remove(child)
        if code not in (0, -signal.SIGTERM, None) and self.args.verbose:
            print(f"  note: {child.name} exited with {code}", file=sys.stderr)

    def kill_all(self) -> None:
        for child in list(self.children):
            self.stop_child(child, grace=5.0)

    # -- the sink --------------------------------------------------------

    def start_sink(self, stack: contextlib.ExitStack, tag: str) -> tuple[int, int, int]:
        port, control = free_port(), free_port()
        sink = self.spawn(
            "sink", [PYTHON, str(BENCH / "common.py"), "sink", str(port), str(control)],
            f"sink-{tag}.log",
        )
        stack.callback(self.stop_child, sink, 5.0)
        wait_for_smtp(port, 20, sink)
        return port, control, sink.pid

    # -- the gateway -----------------------------------------------------

    def before_tree(self, stack: contextlib.ExitStack) -> Path:
        """A checkout of --before (a git worktree, removed at the end), whose
        gateway the `before` scenario runs with this venv."""
        tree = self.workdir / "before-tree"
        if not tree.exists():
            done = subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                 self.args.before], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"git worktree add failed: {done.stderr.strip()}")
        return tree

    def remove_before_tree(self) -> None:
        tree = self.workdir / "before-tree"
        if tree.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True, check=False)

    def _gateway_config(self, name: str, port: int, sink_port: int, db_url: str) -> Path:
        path = self.workdir / f"{name}.toml"
        path.write_text(
            "# Written by bench/relay.py: defaults for everything but addresses.\n"
            "[server]\n"
            f'listen = "{LOOPBACK}:{port}"\n'
            'hostname = "gateway.bench.localdomain"\n'
            'trusted_networks = ["127.0.0.0/8"]\n'
            "[upstream]\n"
            f'host = "{LOOPBACK}"\n'
            f"port = {sink_port}\n"
            'tls = "none"\n'
            "[database]\n"
            f'url = "{db_url}"\n'
            "[policy]\n"
            f'recipients_file = "{ROOT / "config" / "recipients.csv"}"\n'
            "[metrics]\n"
            'listen = ""\n'
        )
        return path

    def _migrate(self, config: Path, root: Path = ROOT, python: str = PYTHON) -> None:
        done = subprocess.run(
            [python, "-m", "gateway", "db", "upgrade", "--config", str(config)],
            cwd=root, env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"gateway db upgrade failed:\n{done.stdout}{done.stderr}")

    def start_gateways(
        self, stack: contextlib.ExitStack, tag: str, count: int, sink_port: int, db_url: str,
        audit: bool = True, root: Path = ROOT, python: str = PYTHON,
    ) -> Running:
        """`count` gateway processes; `root` is the checkout whose code runs
        (`python -m gateway` from there: another commit's, for `before`), and
        `python` the interpreter that runs it (another one's, for `before`
        with --before-python)."""
        running = Running([], [])
        for n in range(count):
            port = free_port()
            config = self._gateway_config(f"gateway-{tag}-{n}", port, sink_port, db_url)
            if n == 0:
                self._migrate(config, root, python)
            argv = [python, "-m", "gateway", "serve", "--config", str(config)]
            if not audit:
                argv[1:3] = [str(BENCH / "no_audit.py")]
            if self.args.profile == "cprofile" and audit:
                out = self.workdir / f"profile-{tag}-{n}.pstats"
                self.profiles.append(out)
                argv[1:3] = ["-m", "cProfile", "-o", str(out), "-m", "gateway"]
            child = self.spawn(f"gateway {tag}/{n}", argv, f"gateway-{tag}-{n}.log", cwd=root)
            stack.callback(self.stop_child, child, 25.0)
            wait_for_smtp(port, 60, child)
            running.ports.append(port)
            running.sessions.append(child.pid)
            running.pids.append(child.pid)
        return running

    # -- PostgreSQL ------------------------------------------------------

    def create_pg_database(self, stack: contextlib.ExitStack) -> str:
        base = self.args.pg_url
        try:
            return pg_database(base, stack)
        except Exception as exc:
            raise Skip(f"PostgreSQL unreachable at {base} ({type(exc).__name__}: {exc})") from None

    # -- Postfix ---------------------------------------------------------

    def start_postfix(self, stack: contextlib.ExitStack, tag: str, sink_port: int) -> Running:
        if not POSTFIX.exists():
            raise Skip(f"{POSTFIX} not found (apt-get install -y postfix)")
        if os.geteuid() != 0:
            raise Skip("Postfix needs root to start its master process")
        port = free_port()
        folder = self.workdir / f"postfix-{tag}"
        subprocess.run(
            [str(POSTFIX_SCRIPT), "create", str(folder), str(port), str(sink_port)],
            check=True, capture_output=True, timeout=60,
        )

        def stop() -> None:
            subprocess.run([str(POSTFIX_SCRIPT), "stop", str(folder)],
                           capture_output=True, timeout=60, check=False)
            master = _postfix_master(folder)
            if master:
                _kill_session(master)

        stack.callback(stop)
        subprocess.run([str(POSTFIX_SCRIPT), "start", str(folder)],
                       check=True, capture_output=True, timeout=60)
        wait_for_smtp(port, 30)
        master = _postfix_master(folder)
        if master is None:
            raise RuntimeError(f"Postfix started but {folder}/spool/pid/master.pid is missing")
        return Running([port], [master])

    def typical_messages(self) -> Path:
        """bench/typical_mail.py's messages for `--sizes typical`, written
        once per run for the client processes (latin-1: the bytes as they are)."""
        path = self.workdir / "typical.json"
        if not path.exists():
            from typical_mail import messages

            texts = [m.decode("latin-1") for m in messages(TYPICAL_COUNT, seed=1)]
            path.write_text(json.dumps(texts))
        return path

    # -- one run -----------------------------------------------------------

    def run(self, scenario: str, size: int, round_: int = 0) -> Result:
        result = Result(scenario, size, round=round_)
        result.background = wait_quiet(self.args.wait_quiet, self.args.quiet_below)
        # Each round its own files (database, Postfix folder, logs).
        tag = f"{scenario}-{_size(size).replace(' KB', 'k')}" + (f"-r{round_ + 1}" if round_ else "")
        with contextlib.ExitStack() as stack:
            try:
                sink_port, sink_control, sink_sid = self.start_sink(stack, tag)
                if scenario == "sink":
                    running = Running([sink_port], [sink_sid])
                elif scenario in ("sqlite", "noaudit", "before"):
                    url = f"sqlite+aiosqlite:///{self.workdir / f'{tag}.db'}"
                    before = scenario == "before"
                    running = self.start_gateways(
                        stack, tag, 1, sink_port, url, audit=scenario != "noaudit",
                        root=self.before_tree(stack) if before and self.args.before else ROOT,
                        python=(self.args.before_python or PYTHON) if before else PYTHON)
                elif scenario in ("postgres", "pgnoaudit", "pgbefore"):
                    url = self.create_pg_database(stack)
                    before = scenario == "pgbefore"
                    running = self.start_gateways(
                        stack, tag, 2, sink_port, url, audit=scenario != "pgnoaudit",
                        root=self.before_tree(stack) if before and self.args.before else ROOT,
                        python=(self.args.before_python or PYTHON) if before else PYTHON)
                else:
                    running = self.start_postfix(stack, tag, sink_port)
                self.load(result, tag, running, sink_control, sink_sid)
            except Skip as exc:
                result.skipped = str(exc)
            except Exception as exc:
                result.failed = f"{type(exc).__name__}: {exc}"
        return result

    def load(
        self, result: Result, tag: str, running: Running, sink_control: int, sink_sid: int
    ) -> None:
        args = self.args
        before, _ = sink_counts(sink_control)
        start = time.time() + 2.0  # the client processes start and connect meanwhile
        spec = ClientSpec(
            ports=running.ports,
            connections=args.connections,
            size=result.size,
            start=start,
            measure_from=start + args.warmup,
            end=start + args.warmup + args.seconds,
            per_connection=args.per_connection,
            messages=str(self.typical_messages()) if result.size == TYPICAL else "",
            mean_gap=args.connections / args.rate if args.rate else 0.0,
        )
        result.offered = args.rate
        clients: list[tuple[Child, Path]] = []
        procs = max(1, min(args.client_procs, args.connections))
        for n in range(procs):
            share = args.connections // procs + (1 if n < args.connections % procs else 0)
            # Spread connections over the ports the same way whatever the split.
            ports = [running.ports[(n + i * procs) % len(running.ports)] for i in range(share)]
            spec_path = self.workdir / f"client-{tag}-{n}.json"
            out = self.workdir / f"result-{tag}-{n}.json"
            spec_path.write_text(json.dumps(
                asdict(spec) | {"ports": ports, "connections": share, "seed": n + 1}))
            child = self.spawn(
                f"client {n}",
                [PYTHON, str(BENCH / "common.py"), "client", str(spec_path), str(out)],
                f"client-{tag}-{n}.log",
            )
            clients.append((child, out))

        relay = _sessions_cpu(running.sessions)
        loops = running.pids if result.scenario in GATEWAYS else []
        _sleep_until(start)
        cpu_start = relay()
        _sleep_until(spec.measure_from)
        loop_marks = [thread_cpu_seconds(pid) for pid in loops]
        marks = (relay(), session_cpu_seconds(sink_sid), machine_cpu()[0])
        profiler = self.start_profiler(tag, running)
        _sleep_until(spec.end)
        ends = (relay(), session_cpu_seconds(sink_sid), machine_cpu()[0])
        loop_ends = [thread_cpu_seconds(pid) for pid in loops]
        window = spec.end - spec.measure_from

        latencies: list[float] = []
        errors: Counter[str] = Counter()
        client_cpu = 0.0
        for child, out in clients:
            try:
                child.proc.wait(args.seconds + 180)
            except subprocess.TimeoutExpired:
                child.stop(1)
                raise RuntimeError("the client did not finish") from None
            if not out.exists():
                raise RuntimeError(f"the client wrote no result:\n{child.tail()}")
            data = json.loads(out.read_text())
            result.accepted += data["accepted"]
            result.refused += data["refused"]
            latencies += data["latencies"]
            errors.update(data["errors"])
            client_cpu += data["cpu_seconds"]
            result.late += data["late"]
            self.children.remove(child)
        if profiler is not None:
            # py-spy writes its profile when its --duration is over, not on
            # SIGTERM: let it finish (it began after the window did).
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.proc.wait(30)
            self.stop_child(profiler, 5)

        # Drain: the sink must get everything that was accepted, and the
        # sender's notice of each refusal.
        expected = result.accepted + result.refused
        deadline = time.time() + args.drain_timeout
        delivered, last_change, drained_at = 0, time.time(), 0.0
        while True:
            now_count = sink_counts(sink_control)[0] - before
            now = time.time()
            if now_count != delivered:
                delivered, last_change = now_count, now
            if delivered >= expected:
                drained_at = now
                break
            if now > deadline or now - last_change > args.stall:
                break
            time.sleep(0.05)
        if drained_at:
            time.sleep(0.5)  # late duplicates would show up here
            delivered = sink_counts(sink_control)[0] - before
        cpu_done = relay()

        result.seconds = window
        result.rate = len(latencies) / window
        if latencies:
            latencies.sort()
            result.p50_ms = 1000 * statistics.median(latencies)
            result.p99_ms = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        result.delivered = delivered
        result.errors = dict(errors)
        if drained_at:
            result.drain_s = max(0.0, drained_at - spec.end)
            result.e2e_rate = delivered / (drained_at - start)
        else:
            result.drain_s = float("nan")
        if delivered:
            result.relay_ms_per_msg = 1000 * (cpu_done - cpu_start) / delivered
        result.cpu_relay = 100 * (ends[0] - marks[0]) / window
        result.cpu_sink = 100 * (ends[1] - marks[1]) / window
        result.cpu_client = 100 * client_cpu / window
        result.cpu_machine = 100 * (ends[2] - marks[2]) / window
        if loops:
            loop_seconds = sum(loop_ends) - sum(loop_marks)
            result.cpu_loop = 100 * loop_seconds / window / len(loops)
            if latencies:
                result.loop_ms_per_msg = 1000 * loop_seconds / len(latencies)

    # -- profiling ---------------------------------------------------------

    def start_profiler(self, tag: str, running: Running) -> Child | None:
        if self.args.profile != "py-spy" or not running.pids:
            return None
        spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        out = self.workdir / f"profile-{tag}.txt"
        self.profiles.append(out)
        return self.spawn(
            "py-spy",
            [spy, "record", "--pid", str(running.pids[0]), "--duration", str(int(self.args.seconds)),
             "--rate", "200", "--function", "--format", "raw", "--output", str(out),
             *self.args.py_spy_args.split()],
            f"py-spy-{tag}.log",
        )


def machine_busy(seconds: float) -> float:
    """% of one core the whole machine was busy over the next `seconds`."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    cores = os.cpu_count() or 1
    return 100 * cores * (busy1 - busy0) / max(total1 - total0, 1e-9)


def wait_quiet(timeout: float, below: float) -> float:
    """Wait up to `timeout` s for other work on the machine to stop (busy < `below`
    % of one core over 1 s); the last busy figure measured."""
    deadline = time.monotonic() + timeout
    busy = machine_busy(1.0)
    warned = False
    while busy >= below and time.monotonic() < deadline:
        if not warned:
            print(f"    machine busy with other work ({busy:.0f}% of a core); waiting up to "
                  f"{timeout:.0f} s for it to drop below {below:.0f}% ...", flush=True)
            warned = True
        busy = machine_busy(1.0)
    if busy >= below and timeout > 0:
        print(f"    still {busy:.0f}% busy: running anyway (figures will be low)", flush=True)
    return busy


def _sessions_cpu(sessions: list[int]) -> Callable[[], float]:
    return lambda: sum(session_cpu_seconds(s) for s in sessions)


def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


def _postfix_master(folder: Path) -> int | None:
    try:
        return int((folder / "spool" / "pid" / "master.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _kill_session(sid: int) -> None:
    """SIGKILL every process left in session `sid` (a Postfix that would not stop)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = Path(f"/proc/{entry.name}/stat").read_bytes()
            if int(raw[raw.rfind(b")") + 2 :].split()[3]) == sid:
                os.kill(int(entry.name), signal.SIGKILL)


# --------------------------------------------------------------------------
# profiles


def summarize_pyspy(path: Path, top: int) -> str:
    """Self and inclusive time per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} samples", "  self %   function"]
    lines += [f"  {100 * n / total:6.1f}   {f}" for f, n in own.most_common(top)]
    lines += ["  incl %   function"]
    lines += [f"  {100 * n / total:6.1f}   {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _short_frame(frame: str) -> str:
    # "func (site-packages/pkg/mod.py:12)" -> "pkg/mod.py:func"
    match = re.match(r"^(.*) \((.*?):\d+\)$", frame.strip())
    if not match:
        return frame.strip()
    func, filename = match.groups()
    filename = re.sub(r"^.*?(site-packages|lib/python3\.\d+)/", "", filename)
    filename = re.sub(rf"^{re.escape(str(ROOT))}/", "", filename)
    return f"{filename}:{func}"


def summarize_pstats(path: Path, top: int) -> str:
    import io
    import pstats

    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return f"{path.name}\n{buffer.getvalue()}"


# --------------------------------------------------------------------------
# report


TYPICAL = 0  # the "size" of --sizes typical: bench/typical_mail.py's messages
TYPICAL_COUNT = 1000  # how many, sent in turn (seeded: the same every run)


def _size(size: int) -> str:
    return "typical" if size == TYPICAL else f"{size // 1024} KB"


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def print_table(results: list[Result]) -> None:
    head = (
        f"{'scenario':24} {'size':>7} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'accepted':>8} {'delivered':>9} {'drain s':>7} {'e2e/s':>6} {'CPU ms/msg':>10} "
        f"{'CPU% relay':>10} {'sink':>5} {'client':>6} {'all':>5} {'bg':>4} {'loop%':>5} "
        f"{'loop ms/msg':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        name = LABELS[r.scenario]
        size = _size(r.size)
        if r.skipped or r.failed:
            why = f"skipped: {r.skipped}" if r.skipped else f"FAILED: {r.failed}"
            print(f"{name:24} {size:>7}  {why.splitlines()[0][:150]}")
            continue
        expected = r.accepted + r.refused
        flag = "" if r.delivered == expected else (" !" if r.delivered < expected else " +dup")
        print(
            f"{name:24} {size:>7} {r.rate:7.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} "
            f"{sum(r.errors.values()):6d} {r.accepted:8d} {r.delivered:9d}{flag:3} "
            f"{_fmt(r.drain_s):>5} {r.e2e_rate:6.0f} {r.relay_ms_per_msg:10.2f} "
            f"{r.cpu_relay:10.0f} {r.cpu_sink:5.0f} {r.cpu_client:6.0f} {r.cpu_machine:5.0f} "
            f"{r.background:4.0f} "
            + (f"{r.cpu_loop:5.0f} {r.loop_ms_per_msg:11.2f}" if r.cpu_loop else f"{'':5} {'':11}")
        )
    print(
        "msg/s: 250s (and policy refusals) inside the window; p50/p99: end-of-data -> 250 at the client; drain s: end "
        "of load -> sink has all;\ne2e/s: delivered / (first send -> last delivery); CPU ms/msg: "
        "relay CPU from first send to drained / delivered;\nCPU%: of one core over the window "
        "(2 cores = 200%); relay = the gateway process(es), Postfix's processes, or the sink "
        "alone;\nall = the whole machine (PostgreSQL included); bg = machine busy just before "
        "the run (work that is not the bench);\nloop% and loop ms/msg: the gateway's event-loop "
        "thread (per process), CPU over the window and per message accepted in it."
    )
    for r in results:
        if r.offered and (r.late or r.rate < 0.9 * r.offered):
            print(f"  {LABELS[r.scenario]}, {_size(r.size)}: the offered {r.offered:g} msg/s "
                  f"was not kept ({r.rate:.0f} msg/s, {r.late} sends late by over 1 s): "
                  "the relay is at its ceiling, not at the load asked for")
        if r.refused:
            print(f"  {LABELS[r.scenario]}, {_size(r.size)}: {r.refused} refused by the policy "
                  "(550 5.7.1; counted in msg/s, each with its notice to the sender delivered)")
        for reply, count in sorted(r.errors.items()):
            print(f"  {LABELS[r.scenario]}, {_size(r.size)}: {count} x {reply}")
        if r.failed and "\n" in r.failed:
            print(f"  {LABELS[r.scenario]}, {_size(r.size)} failed:\n{r.failed}")


def print_ratios(results: list[Result], before: str | None = None) -> None:
    by = {(r.scenario, r.size): r for r in results if r.rate and not (r.skipped or r.failed)}
    sizes = sorted({r.size for r in results})
    # Paced (--rate), every relay keeps the rate offered: a ratio of two
    # rates says nothing, so only the trail's cost in wait and CPU is shown.
    paced = bool(results and results[0].offered)
    lines: list[str] = []
    for size in sizes:
        postfix, sink = by.get(("postfix", size)), by.get(("sink", size))
        if paced:
            postfix = sink = None
        for scenario in ("sqlite", "noaudit", "postgres", "pgnoaudit"):
            gateway = by.get((scenario, size))
            if gateway is None:
                continue
            parts = []
            if postfix is not None:
                ratio = gateway.rate / postfix.rate
                verdict = ""
                if scenario == "sqlite" and size in TARGETS:
                    ok = ratio >= TARGETS[size]
                    verdict = f" (target >= {TARGETS[size]:.1f}x: {'met' if ok else 'NOT met'})"
                parts.append(f"{ratio:.2f}x Postfix{verdict}")
            if sink is not None:
                parts.append(f"{gateway.rate / sink.rate:.2f}x sink alone")
            if parts:
                lines.append(f"  {LABELS[scenario]:24} {_size(size):>7}: " + ", ".join(parts))
        if postfix is not None and sink is not None:
            lines.append(
                f"  {LABELS['postfix']:24} {_size(size):>7}: {postfix.rate / sink.rate:.2f}x "
                "sink alone"
            )
        for scenario, earlier in (("sqlite", "before"), ("postgres", "pgbefore")):
            now, then = by.get((scenario, size)), by.get((earlier, size))
            if now is not None and then is not None and not paced:
                lines.append(f"  {LABELS[scenario]:24} {_size(size):>7}: "
                             f"{now.rate / then.rate:.2f}x {before}")
        for first, second in AUDIT_PAIRS:
            with_audit, without = by.get((first, size)), by.get((second, size))
            if with_audit is None or without is None:
                continue
            if with_audit.offered:
                lines.append(f"  {AUDIT_LABELS[second]:24} {_size(size):>7}: "
                             + _paced_cost([(with_audit, without)]))
                continue
            cost = ""
            if with_audit.relay_ms_per_msg and without.relay_ms_per_msg:
                extra = with_audit.relay_ms_per_msg - without.relay_ms_per_msg
                cost = f", {extra:+.2f} CPU ms/msg"
            lines.append(
                f"  {AUDIT_LABELS[second]:24} {_size(size):>7}: "
                f"{with_audit.rate / without.rate:.2f}x the rate without it{cost}"
            )
    if lines:
        print("\nat the offered rate (the audit trail: with it against without):" if paced
              else "\nratios (messages/s accepted inside the window):")
        print("\n".join(lines))


def _paced_cost(pairs: list[tuple[Result, Result]]) -> str:
    """What one scenario costs over its twin at the same offered rate
    (--rate): medians of the pairs' differences [lowest-highest] in the
    sender's wait and the relay's CPU, where the rates themselves are the
    same (both keep the offered rate)."""

    def median_of(values: list[float], unit: str, digits: int) -> str:
        middle = statistics.median(values)
        spread = f" [{min(values):+.{digits}f} to {max(values):+.{digits}f}]" \
            if len(values) > 1 else ""
        return f"{middle:+.{digits}f}{unit}{spread}"

    p50 = [a.p50_ms - b.p50_ms for a, b in pairs]
    p99 = [a.p99_ms - b.p99_ms for a, b in pairs]
    relay = [a.cpu_relay - b.cpu_relay for a, b in pairs]
    machine = [a.cpu_machine - b.cpu_machine for a, b in pairs]
    text = (f"p50 {median_of(p50, ' ms', 2)} "
            f"(of {statistics.median(b.p50_ms for _, b in pairs):.2f} ms), "
            f"p99 {median_of(p99, ' ms', 2)}; relay CPU {median_of(relay, '%', 1)} of a core "
            f"(of {statistics.median(b.cpu_relay for _, b in pairs):.1f}%), "
            f"whole machine {median_of(machine, '%', 1)}")
    loop = [a.loop_ms_per_msg - b.loop_ms_per_msg for a, b in pairs
            if a.loop_ms_per_msg and b.loop_ms_per_msg]
    if loop:
        text += f"; loop {median_of(loop, ' ms/msg', 2)}"
    return text


def print_rounds(results: list[Result], rounds: int, before: str | None = None) -> None:
    """With --repeat: each line's median and range over the rounds, and each
    ratio as the median of the rounds' own ratios (both runs of a ratio ran
    minutes apart at most, so a slow spell of the machine touches both)."""
    ok = [r for r in results if r.rate and not (r.skipped or r.failed)]
    by_key: dict[tuple[str, int], dict[int, Result]] = {}
    for r in ok:
        by_key.setdefault((r.scenario, r.size), {})[r.round] = r
    print(f"\nover {rounds} rounds: median msg/s [lowest-highest], median e2e/s, median CPU "
          "ms/msg, median event-loop thread % and ms/msg")
    for (scenario, size), runs in sorted(
            by_key.items(), key=lambda kv: (kv[0][1], SCENARIOS.index(kv[0][0]))):
        rates = [r.rate for r in runs.values()]
        cpu = [r.relay_ms_per_msg for r in runs.values() if r.relay_ms_per_msg]
        cpu_text = f", {statistics.median(cpu):.2f} CPU ms/msg" if cpu else ""
        loop = [r for r in runs.values() if r.loop_ms_per_msg]
        if loop:
            cpu_text += (f", loop {statistics.median(r.cpu_loop for r in loop):.0f}% "
                         f"{statistics.median(r.loop_ms_per_msg for r in loop):.2f} ms/msg")
        e2e = [r.e2e_rate for r in runs.values() if r.e2e_rate]
        e2e_text = f", e2e {statistics.median(e2e):.0f}/s" if e2e else ""
        print(f"  {LABELS[scenario]:24} {_size(size):>7}: {statistics.median(rates):6.0f} "
              f"[{min(rates):.0f}-{max(rates):.0f}]{e2e_text}{cpu_text}")
    pairs = [("sqlite", "postfix", "Postfix"), ("sqlite", "before", "--before"),
             ("postgres", "pgbefore", "--before"),
             ("noaudit", "postfix", "Postfix"),
             ("postgres", "postfix", "Postfix"), ("pgnoaudit", "postfix", "Postfix"),
             *((first, second, "the rate without audit") for first, second in AUDIT_PAIRS)]
    lines: list[str] = []
    for size in sorted({r.size for r in ok}):
        for first, second in AUDIT_PAIRS:
            a, b = by_key.get((first, size), {}), by_key.get((second, size), {})
            matched = [(a[n], b[n]) for n in sorted(a) if n in b and a[n].offered]
            if matched:
                lines.append(f"  {AUDIT_LABELS[second]:24} {_size(size):>7}: "
                             f"{_paced_cost(matched)} over {len(matched)} rounds")
        for first, second, what in pairs:
            a, b = by_key.get((first, size), {}), by_key.get((second, size), {})
            ratios = [a[n].rate / b[n].rate for n in sorted(a) if n in b and not a[n].offered]
            if not ratios:
                continue
            middle = statistics.median(ratios)
            verdict = ""
            if (first, second) == ("sqlite", "postfix") and size in TARGETS:
                ok_text = "met" if middle >= TARGETS[size] else "NOT met"
                verdict = f" (target >= {TARGETS[size]:.1f}x: {ok_text})"
            label = AUDIT_LABELS.get(second, LABELS[first])
            if second in BEFORE:
                what = str(before)
            lines.append(f"  {label:24} {_size(size):>7}: {middle:.2f}x {what} "
                         f"[{min(ratios):.2f}-{max(ratios):.2f}] over {len(ratios)} rounds{verdict}")
            # End to end (delivered / first send -> last delivery): a relay
            # whose delivery lags accepts faster inside the window than it
            # can keep up, and pays for it in the drain after.
            e2e = [a[n].e2e_rate / b[n].e2e_rate for n in sorted(a)
                   if n in b and a[n].e2e_rate and b[n].e2e_rate]
            if e2e:
                lines.append(f"  {'':24} {'':>4}    end to end {statistics.median(e2e):.2f}x "
                             f"[{min(e2e):.2f}-{max(e2e):.2f}]")
    if lines:
        print("\nratios, median of the rounds' own [lowest-highest]:")
        print("\n".join(lines))


def _cpu_model() -> str:
    """The processor's name: ratios to Postfix differ from one kind of CPU
    to another (the gateway is one Python process, Postfix several in C), so
    figures from two machines are only compared knowing both."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _interpreter() -> str:
    """Which build of Python runs the gateway (bench/README.md, "Which
    Python"): Debian's optimised build, libpython linked in, took about a
    tenth less event-loop CPU per 2 KB message than pyenv's default
    `--enable-shared` build on the same machine."""
    path = os.path.realpath(sys.executable)
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return path
    return f"{path}, libpython {'shared' if 'libpython' in maps else 'linked in'}"


def _other_interpreter(python: str) -> str:
    """`_interpreter`'s line for the interpreter at `python`."""
    probe = (
        "import os, sys; from pathlib import Path; "
        "maps = Path('/proc/self/maps').read_text(errors='replace'); "
        "print(f\"Python {sys.version.split()[0]} ({os.path.realpath(sys.executable)}, libpython \""
        "f\"{'shared' if 'libpython' in maps else 'linked in'})\")"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() or python


def _environment() -> str:
    load = os.getloadavg()
    overrides = sorted(k for k in os.environ if k.startswith("GATEWAY_") and not
                       _OWN_OVERRIDES.match(k) and not k.startswith("GATEWAY_TEST_"))
    text = (f"{os.cpu_count()} CPUs ({_cpu_model()}), "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"Python {sys.version.split()[0]} ({_interpreter()})")
    if overrides:
        text += f"; gateway overrides from the environment: {', '.join(overrides)}"
    return text


# --------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="relay benchmark: sink alone, gateway (SQLite, PostgreSQL x2), Postfix"
    )
    parser.add_argument("--quick", action="store_true",
                        help="short run: 3 s windows, 1 s warm-up")
    parser.add_argument("--only", default=",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} "
                        f"(default {','.join(DEFAULT_SCENARIOS)})")
    parser.add_argument("--before", metavar="REV",
                        help="a commit to compare with: the `before` scenario runs its gateway "
                        "(SQLite, as `sqlite`) from a git worktree, in the same rounds")
    parser.add_argument("--before-python", metavar="PATH",
                        help="run the `before` scenario's gateway with this interpreter (a venv "
                        "of its own with this checkout installed, e.g. `make venv PYTHON=... "
                        "VENV=...`); without --before it runs this checkout's code: two "
                        "interpreters compared in the same rounds")
    parser.add_argument("--sizes", default="2,200",
                        help="message sizes in KB (default 2,200); `typical` sends "
                             "bench/typical_mail.py's staff mail (about 2.5 KB each) in turn")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measured window per scenario and size (default 10; quick 3)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of load before the window (default 2; quick 1)")
    parser.add_argument("--connections", type=int, default=20, help="concurrent client connections")
    parser.add_argument("--rate", type=float, default=0.0, metavar="N",
                        help="offer N messages/s in all, at random times (Poisson arrivals), "
                        "instead of as many as the relay answers: its latency and CPU at a "
                        "load like service, far below its ceiling")
    parser.add_argument("--per-connection", type=int, default=100,
                        help="messages per connection before QUIT and reconnect")
    parser.add_argument("--client-procs", type=int, default=1,
                        help="client processes sharing the connections (default 1)")
    parser.add_argument("--drain-timeout", type=float, default=None,
                        help="longest wait for the sink to get everything (default 120; quick 30)")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="give up draining after this many seconds without progress")
    parser.add_argument("--wait-quiet", type=float, default=None,
                        help="before each run, wait up to this many seconds for other work on "
                        "the machine to stop (default 30; quick 0)")
    parser.add_argument("--quiet-below", type=float, default=30.0,
                        help="'quiet' means the machine is busy less than this %% of one core")
    parser.add_argument("--pg-url", default=os.environ.get("GATEWAY_TEST_POSTGRES_URL",
                                                           DEFAULT_PG_URL),
                        help="server for the PostgreSQL scenario (a database is created on it)")
    parser.add_argument("--profile", choices=["py-spy", "cprofile"],
                        help="profile the gateway (first process) during the window")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--py-spy-args", default="",
                        help="extra py-spy record options, e.g. '--gil' or '--native --idle'")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the scenarios this many rounds, one after the other, and "
                        "report medians (this machine's rates vary from run to run)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (logs, configs, profiles)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.drain_timeout = args.drain_timeout or (30.0 if args.quick else 120.0)
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.quick else 30.0
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; use {','.join(SCENARIOS)}")
    try:
        args.size_list = [TYPICAL if s.strip() == "typical" else int(float(s) * 1024)
                          for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: sizes in KB or `typical`, not {args.sizes!r}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.rate < 0 or args.rate != args.rate or args.rate == float("inf"):
        parser.error(f"--rate: messages per second, a positive number, not {args.rate:g}")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if set(BEFORE) & set(args.scenarios) and not (args.before or args.before_python):
        parser.error("the before and pgbefore scenarios need --before REV or --before-python PATH")
    if args.before_python and not shutil.which(args.before_python):
        parser.error(f"--before-python: no interpreter at {args.before_python}")
    if (args.before or args.before_python) and not set(BEFORE) & set(args.scenarios):
        args.scenarios.append("before")
    if args.before_python and not args.before:
        LABELS["before"] = "the same, other Python"
        LABELS["pgbefore"] = "PG x2, other Python"
    return args


def before_text(args: argparse.Namespace) -> str:
    """What the `before` scenario ran, for its ratios."""
    parts = []
    if args.before:
        parts.append(f"the code at {args.before}")
    if args.before_python:
        parts.append(f"{'' if args.before else 'this code '}under {args.before_python}")
    return " ".join(parts)


@contextlib.contextmanager
def _bounded(seconds: float) -> Iterator[None]:
    """SIGTERM and an overall time limit end the run through the normal clean-up."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(f"relay bench: stopped by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGALRM)}
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = [(n, s, size) for n in range(args.repeat)
            for s in args.scenarios for size in args.size_list]
    budget = len(runs) * (args.wait_quiet + args.warmup + args.seconds + args.drain_timeout + 240)
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    workdir.chmod(0o755)  # Postfix's daemons (user postfix) work under it
    bench = Bench(args, workdir)
    results: list[Result] = []
    print(f"relay bench: {_environment()}")
    if args.before_python:
        print(f"  `before` runs under {_other_interpreter(args.before_python)}")
    print(f"  {args.connections} connections, {args.per_connection} messages per connection, "
          f"{args.warmup:g} s warm-up + {args.seconds:g} s window per run; "
          "client, sink, relay and database share this machine's CPUs")
    if args.rate:
        print(f"  paced: {args.rate:g} messages/s offered in all, at random times "
              "(Poisson arrivals), not as many as the relay answers")
    try:
        with _bounded(budget):
            for round_, scenario, size in runs:
                where = f" (round {round_ + 1} of {args.repeat})" if args.repeat > 1 else ""
                print(f"  running {LABELS[scenario]}, {_size(size)}{where} ...", flush=True)
                result = bench.run(scenario, size, round_)
                results.append(result)
                if result.failed:
                    print(f"    failed: {result.failed}", file=sys.stderr)
                elif result.skipped:
                    print(f"    skipped: {result.skipped}")
                else:
                    print(f"    {result.rate:.0f} msg/s, p50 {result.p50_ms:.1f} ms, "
                          f"p99 {result.p99_ms:.1f} ms, delivered {result.delivered}/"
                          f"{result.accepted + result.refused}", flush=True)
    finally:
        bench.kill_all()
        bench.remove_before_tree()
        print()
        if results:
            print_table(results)
            if args.repeat > 1:
                print_rounds(results, args.repeat, before_text(args))
            else:
                print_ratios(results, before_text(args))
        for path in bench.profiles:
            if path.exists():
                print()
                if path.suffix == ".pstats":
                    print(summarize_pstats(path, args.profile_top))
                else:
                    print(summarize_pyspy(path, args.profile_top))
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
        if args.keep or bench.profiles:
            print(f"\nlogs, configs and profiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    bad = [r for r in results
           if r.failed or (not r.skipped and r.delivered < r.accepted + r.refused)]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
