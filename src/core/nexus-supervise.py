#!/usr/bin/env python3
"""nexus-supervise: runs one workspace service, restarts it, probes its health (installed by Nexus).

  nexus-supervise start NAME SPEC_JSON   start it (no-op when it already runs with this spec)
  nexus-supervise stop NAME [TIMEOUT]    stop it: TERM to its process group, KILL after TIMEOUT s
  nexus-supervise status                 one JSON list of every service's state
  nexus-supervise logs NAME TAIL [follow]
  nexus-supervise run NAME               (internal) the supervisor loop
"""
import fcntl, json, os, signal, socket, subprocess, sys, threading, time, urllib.request

ROOT = os.environ.get("NEXUS_SERVICES_DIR", "/home/nexus/.local/state/nexus/services")
MAX_LOG = 8 * 1024 * 1024


def now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def sdir(name):
    return os.path.join(ROOT, name)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def proc_start(pid):
    """The process's start time, or None when it is gone; a zombie (exited, not yet reaped) is gone too."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else fields[19]
    except (OSError, IndexError):
        return None


def write_pid_file(d, pid):
    """supervisor.pid, replaced whole: a start or status reading it meanwhile (they take no lock while
    the supervisor writes its own) never sees it empty and takes the supervisor for gone."""
    tmp = os.path.join(d, "supervisor.pid.%d" % os.getpid())
    with open(tmp, "w") as f:
        f.write("%d %s\n" % (pid, proc_start(pid)))
    os.replace(tmp, os.path.join(d, "supervisor.pid"))


def supervisor_alive(name):
    """The supervisor's pid when it still runs (pid and start time match, so a reused pid is not it)."""
    try:
        with open(os.path.join(sdir(name), "supervisor.pid")) as f:
            pid, start = f.read().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    return pid if proc_start(pid) == start else None


class Log:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.f = open(path, "ab", buffering=0)

    def line(self, tag, text):
        with self.lock:
            if self.f.tell() > MAX_LOG:
                self.f.close()
                os.replace(self.path, self.path + ".1")
                self.f = open(self.path, "ab", buffering=0)
            self.f.write(("%s %s %s\n" % (now(), tag, text)).encode("utf-8", "replace"))

    def pump(self, stream, tag):
        for raw in iter(stream.readline, b""):
            self.line(tag, raw.rstrip(b"\n").decode("utf-8", "replace"))


def probe(spec, env):
    h = spec.get("health")
    if not h:
        return True, ""
    timeout = h.get("timeoutSeconds", 2)
    port = h.get("port") or spec.get("port")
    try:
        if h["kind"] == "http":
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open("http://127.0.0.1:%d%s" % (port, h["http"]), timeout=timeout) as r:
                return r.status < 400, "HTTP %d" % r.status
        if h["kind"] == "tcp":
            target = h.get("tcp") or port
            last = None
            for host in ("127.0.0.1", "::1"):
                try:
                    socket.create_connection((host, target), timeout=timeout).close()
                    return True, "port %d accepts connections" % target
                except OSError as e:
                    last = e
            return False, "port %d: %s" % (target, last)
        r = subprocess.run(["bash", "-lc", h["command"]], cwd=spec.get("cwd") or "/workspace", env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()[-300:]
        return r.returncode == 0, "exit %d%s" % (r.returncode, (": " + out) if out else "")
    except urllib.error.HTTPError as e:
        return False, "HTTP %d" % e.code
    except Exception as e:  # any failure of the probe is an unhealthy answer, never a crash
        return False, str(e)[:300]


class Supervisor:
    def __init__(self, name):
        self.name = name
        self.dir = sdir(name)
        self.spec = read_json(os.path.join(self.dir, "spec.json"))
        self.log = Log(os.path.join(self.dir, "service.log"))
        self.stopping = threading.Event()
        self.child = None
        self.lock = threading.Lock()
        self.state = {"name": name, "status": "starting", "pid": None, "supervisorPid": os.getpid(), "restarts": 0,
                      "lastExitCode": None, "startedAt": None, "healthyAt": None, "probe": None,
                      "message": "", "updatedAt": now()}
        self.failures = 0
        self.ever_healthy = False

    def save(self, **changes):
        with self.lock:
            self.state.update(changes)
            self.state["updatedAt"] = now()
            write_json(os.path.join(self.dir, "state.json"), self.state)

    def env(self):
        env = dict(os.environ)
        env.update(self.spec.get("env") or {})
        env["NEXUS_SERVICE"] = self.name
        return env

    def on_term(self, *_):
        self.stopping.set()
        child = self.child
        if child and child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except OSError:
                pass

    def health_loop(self):
        h = self.spec.get("health") or {}
        interval = h.get("intervalSeconds", 2)
        retries = h.get("retries", 3)
        start_period = h.get("startPeriodSeconds", 60)
        while not self.stopping.is_set():
            child = self.child
            if child is not None and child.poll() is None and h:
                ok, out = probe(self.spec, self.env())
                started = self.state.get("startedMono") or time.monotonic()
                if ok:
                    self.failures = 0
                    if self.state["status"] != "healthy":
                        self.log.line("S", "healthy (%s)" % out)
                        self.save(status="healthy", healthyAt=now(), probe={"ok": True, "at": now(), "output": out})
                    else:
                        self.state["probe"] = {"ok": True, "at": now(), "output": out}
                    self.ever_healthy = True
                else:
                    self.failures += 1
                    in_grace = not self.ever_healthy and time.monotonic() - started < start_period
                    status = self.state["status"]
                    if not in_grace and self.failures >= retries and status != "unhealthy":
                        self.log.line("S", "unhealthy after %d failed checks (%s)" % (self.failures, out))
                        status = "unhealthy"
                    self.save(status=status, probe={"ok": False, "at": now(), "output": out})
            self.stopping.wait(interval)

    def run(self):
        write_pid_file(self.dir, os.getpid())
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        threading.Thread(target=self.health_loop, daemon=True).start()
        policy = self.spec.get("restart", "on-failure")
        consecutive = 0
        while not self.stopping.is_set():
            self.log.line("S", "starting: %s" % self.spec["command"])
            try:
                child = subprocess.Popen(["bash", "-lc", self.spec["command"]], cwd=self.spec.get("cwd") or "/workspace",
                                         env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, start_new_session=True)
            except OSError as e:
                self.log.line("S", "could not start: %s" % e)
                self.save(status="stopped", pid=None, message="could not start: %s" % e)
                return
            self.child = child
            began = time.monotonic()
            self.failures = 0
            self.ever_healthy = False
            self.state["startedMono"] = began
            self.save(status="starting" if self.spec.get("health") else "running", pid=child.pid,
                      pidStart=proc_start(child.pid), startedAt=now(), message="")
            pumps = [threading.Thread(target=self.log.pump, args=(child.stdout, "O"), daemon=True),
                     threading.Thread(target=self.log.pump, args=(child.stderr, "E"), daemon=True)]
            for p in pumps:
                p.start()
            code = child.wait()
            for p in pumps:
                p.join(2)
            if self.stopping.is_set():
                break
            shown = code if code >= 0 else 128 - code
            consecutive = consecutive + 1 if time.monotonic() - began < 30 else 1
            if policy == "never" or (policy == "on-failure" and code == 0):
                self.log.line("S", "exited with code %d; not restarted (restart: %s)" % (shown, policy))
                self.save(status="stopped", pid=None, lastExitCode=shown, message="exited with code %d" % shown)
                return
            delay = min(30, 2 ** (consecutive - 1))
            self.log.line("S", "exited with code %d; restarting in %d s" % (shown, delay))
            self.save(status="starting", pid=None, lastExitCode=shown, restarts=self.state["restarts"] + 1,
                      message="exited with code %d; restarting in %d s" % (shown, delay))
            self.stopping.wait(delay)
        # Stopping: the group had TERM; KILL whatever is left after the stop timeout.
        child = self.child
        if child and child.poll() is None:
            try:
                child.wait(self.spec.get("stopTimeoutSeconds", 10))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except OSError:
                    pass
                child.wait()
        if child:
            try:
                os.killpg(child.pid, signal.SIGKILL)  # stragglers of the group
            except OSError:
                pass
        self.log.line("S", "stopped")
        self.save(status="stopped", pid=None, message="stopped")


def service_lock(name):
    """One start or stop of a service at a time: two at once would each see no supervisor and start two."""
    os.makedirs(sdir(name), exist_ok=True)
    f = open(os.path.join(sdir(name), "lock"), "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def cmd_start(name, spec_json):
    with service_lock(name):
        return start_locked(name, json.loads(spec_json))


def start_locked(name, spec):
    d = sdir(name)
    spec_file = os.path.join(d, "spec.json")
    if supervisor_alive(name):
        if read_json(spec_file) == spec:
            print(json.dumps(read_json(os.path.join(d, "state.json"), {"name": name})))
            return 0
        stop_locked(name, spec.get("stopTimeoutSeconds", 10), quiet=True)
    else:
        reap_orphan(name)
    write_json(spec_file, spec)
    write_json(os.path.join(d, "state.json"), {"name": name, "status": "starting", "pid": None, "restarts": 0,
                                                "message": "", "updatedAt": now()})
    try:
        os.unlink(os.path.join(d, "supervisor.pid"))
    except OSError:
        pass
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "run", name], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    # The supervisor counts as alive from now on, not from when its (slow, on a loaded machine) start
    # writes its pid: a status or start meanwhile must not take it for gone and start a second one.
    write_pid_file(d, child.pid)
    print(json.dumps(read_json(os.path.join(d, "state.json"), {"name": name})))
    return 0


def reap_orphan(name):
    """A service whose supervisor was killed may still run: end its group before a new one starts."""
    state = read_json(os.path.join(sdir(name), "state.json"), {})
    pid = state.get("pid")
    if not pid or not state.get("pidStart") or proc_start(pid) != state.get("pidStart"):
        return  # gone, or the pid now belongs to another process
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 1)):
        try:
            os.killpg(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and proc_start(pid) == state["pidStart"]:
            time.sleep(0.05)


def cmd_stop(name, timeout=10, quiet=False):
    with service_lock(name):
        return stop_locked(name, timeout, quiet)


def stop_locked(name, timeout=10, quiet=False):
    pid = supervisor_alive(name)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + float(timeout) + 3
        while time.monotonic() < deadline and supervisor_alive(name):
            time.sleep(0.05)
        if supervisor_alive(name):
            os.kill(pid, signal.SIGKILL)
            state = read_json(os.path.join(sdir(name), "state.json"), {})
            reap_orphan(name)
            write_json(os.path.join(sdir(name), "state.json"), dict(state, status="stopped", pid=None, message="killed"))
    if not quiet:
        print(json.dumps(read_json(os.path.join(sdir(name), "state.json"), {"name": name, "status": "stopped"})))
    return 0


def cmd_status():
    out = []
    if os.path.isdir(ROOT):
        for name in sorted(os.listdir(ROOT)):
            state = read_json(os.path.join(sdir(name), "state.json"))
            if state is None:
                continue
            state.pop("startedMono", None)
            state.pop("pidStart", None)
            if not supervisor_alive(name) and state.get("status") != "stopped":
                # The container restarted, or the supervisor was killed: nothing runs it now.
                state.update(status="stopped", pid=None, message="not running (its supervisor is gone)")
            out.append(state)
    print(json.dumps(out))
    return 0


def cmd_logs(name, tail, follow=False):
    """The last TAIL lines of the log, then (follow) every byte appended after them, across rotations.
    One open file from the tail's read on: what is appended meanwhile is in the tail or followed, never
    between the two, and a rotation meanwhile cannot send the follower into the next file at this one's
    offset. A reader that holds the log open at its end therefore gets every line written after."""
    path = os.path.join(sdir(name), "service.log")
    tail = int(tail)
    out = sys.stdout.buffer
    try:
        f = open(path, "rb")
    except OSError:
        f = None  # no log yet: followed from the start of the first one
    if tail > 0:
        lines = f.read().splitlines(True) if f else []
        if len(lines) < tail:
            lines = rotated_lines(path, f) + lines
        out.writelines(lines[-tail:])
    elif f:
        f.seek(0, os.SEEK_END)
    out.flush()
    if not follow:
        return 0
    # Read and written in pieces: a slow client (back-pressure) then holds this process in a write
    # of 64 KiB, not of the whole unread log held in memory. A failed write ends the reader: the piece
    # it read is not dropped for the next one to follow.
    piece = 64 * 1024
    while True:
        if f is None:
            try:
                f = open(path, "rb")  # the first log, or the one after a rotation: from its start
            except OSError:
                time.sleep(0.2)  # between a rotation's rename and the new file
                continue
        data = f.read(piece)
        if data:
            out.write(data)
            out.flush()
            continue  # more may be there already
        try:
            # The inode alone, as before: the two files share a folder.
            rotated = os.fstat(f.fileno()).st_ino != os.stat(path).st_ino
        except OSError:
            rotated = False  # renamed, the new file not made yet: looked at again
        if not rotated:
            time.sleep(0.2)
            continue
        # Rotated: the supervisor closed this file before renaming it, so what was appended after our
        # last read (megabytes for a reader held back by a slow client) is all there now, and comes first.
        for rest in iter(lambda: f.read(piece), b""):
            out.write(rest)
            out.flush()
        f.close()
        f = None


def rotated_lines(path, current):
    """The lines of the rotated log (older than the current one's), unless that is the file the
    reader already holds (rotated since it opened it)."""
    try:
        with open(path + ".1", "rb") as f:
            if current is not None and os.path.sameopenfile(f.fileno(), current.fileno()):
                return []
            return f.read().splitlines(True)
    except OSError:
        return []


def main(argv):
    if len(argv) >= 3 and argv[1] == "start":
        return cmd_start(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == "stop":
        return cmd_stop(argv[2], argv[3] if len(argv) > 3 else 10)
    if len(argv) >= 2 and argv[1] == "status":
        return cmd_status()
    if len(argv) >= 4 and argv[1] == "logs":
        return cmd_logs(argv[2], argv[3], len(argv) > 4 and argv[4] == "follow")
    if len(argv) >= 3 and argv[1] == "run":
        Supervisor(argv[2]).run()
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
