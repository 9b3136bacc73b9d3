# The exec agent, part two (joined after exec-agent-command.py, whose imports, wire and Command it
# uses: one program on python3's stdin, see exec-agent.ts): the agent's process, its socket and who
# may reach it, its connections and their requests, a kill, and the take-over of the agent before it.

TAG = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# Variables the login's shell added for itself: the command's shell sets its own, as under sshd.
SHELL_OWN = ("NEXUS_EXEC_ID", "SHLVL", "PWD", "OLDPWD", "_")

running = {}  # tag -> process group of a command that runs now
running_lock = threading.Lock()
# Connections waiting for their request (a daemon opens one ahead for its next command): replaced, the
# agent closes them, so that daemon's next command opens a channel to the new agent instead.
waiting = set()
waiting_lock = threading.Lock()
# Set (under waiting_lock) once replaced: a kept connection then takes no further request.
stopping = False


def proc_start(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def kill_tag(tag):
    """SIGKILL to the command's process group and to every process of ours that carries its tag."""
    with running_lock:
        pgid = running.get(tag)
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    needle = ("NEXUS_EXEC_ID=%s" % tag).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                if needle in f.read().split(b"\0"):
                    os.kill(int(name), signal.SIGKILL)
        except OSError:
            pass


def serve_one(conn, base_env, shell, home, my_uid, queued=False):
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != my_uid:
            return
        inbuf = bytearray()  # what came on the connection and is not taken yet
        kept = serve_request(conn, inbuf, base_env, shell, home, queued, False)
        while kept:
            kept = serve_request(conn, inbuf, base_env, shell, home, False, True)
    except (Closed, OSError, ValueError, KeyError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def serve_request(conn, inbuf, base_env, shell, home, queued, again):
    """One request of a connection; True when the connection is kept for the next one."""
    if queued:
        # Accepted after this agent was replaced: a request already sent is served, an idle one is not.
        conn.settimeout(QUEUED_REQUEST_S)
    else:
        with waiting_lock:
            # Replaced meanwhile: a kept connection takes no new request (the daemon, without an "a", runs it over SSH).
            if again and stopping:
                return False
            waiting.add(conn)
    try:
        kind, payload = read_frame(conn, inbuf)
    finally:
        with waiting_lock:
            # Closed by the replacement meanwhile: its request (if one came whole) is not taken, so the
            # daemon, without an "a", runs it over SSH; it runs once either way.
            shut = not queued and conn not in waiting
            waiting.discard(conn)
    if shut:
        return False
    if queued:
        conn.settimeout(None)
    req = json.loads(payload.decode("utf-8"))
    tag = req.get("tag")
    if not isinstance(tag, str) or not TAG.match(tag):
        return False
    if kind == b"K":
        kill_tag(tag)
        conn.sendall(frame(b"k"))
        return False
    if kind != b"R":
        return False
    if queued:
        req.pop("keep", None)
    # Taken, before any process is made: a daemon that sees the connection end after this frame
    # and before "s" cannot know whether the command ran, so it never runs it again over SSH.
    conn.sendall(TAKEN)
    try:
        cmd = Command(conn, base_env, shell, home, req)
    except OSError as e:  # no process could be made (the workspace's limits): it did not run
        conn.sendall(frame(b"f", json.dumps({"message": str(e)}).encode()))
        return False
    with running_lock:
        running[tag] = cmd.proc.pid
    try:
        started = frame(b"s", b'{"pid": %d}' % cmd.proc.pid)
        if req.get("startNow"):
            cmd.send(started)
        else:
            cmd.held_start = started
        return cmd.relay(inbuf) is True
    finally:
        cmd.close_fds()
        with running_lock:
            running.pop(tag, None)


class Stop(Exception):
    pass


def serve(listener, path, own):
    env = {k: v for k, v in os.environ.items() if k not in SHELL_OWN}
    # The login's own entry (as sshd looked it up by name): a root host's nexus shares uid 0 with root.
    try:
        me = pwd.getpwnam(os.environ.get("USER", ""))
        if me.pw_uid != os.getuid():
            raise KeyError()
    except KeyError:
        me = pwd.getpwuid(os.getuid())
    shell, home, my_uid = me.pw_shell or "/bin/sh", me.pw_dir or "/", os.getuid()

    def on_term(*_):
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve_one, args=(conn, env, shell, home, my_uid), daemon=False).start()
    except Stop:
        pass
    # Replaced: connections already queued here are still served (the new agent holds the path now),
    # the commands that run now finish in their threads, and no new ones come. Connections that wait
    # for a request are closed, and kept ones take no further request.
    global stopping
    with waiting_lock:
        stopping = True
        for conn in waiting:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        waiting.clear()
    listener.setblocking(False)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            break
        conn.setblocking(True)
        threading.Thread(target=serve_one, args=(conn, env, shell, home, my_uid, True), daemon=False).start()
    listener.close()
    # Each start has a socket of its own: this one's goes with it.
    try:
        if os.stat(path).st_ino == own:
            os.unlink(path)
    except OSError:
        pass


def start(path):
    # The socket's folder is this user's alone (made here, mode 0700), in a folder only this user or
    # root may write to (so nobody else could have made it first).
    folder = os.path.dirname(path)
    parent = os.lstat(os.path.dirname(folder))
    if not stat.S_ISDIR(parent.st_mode) or parent.st_uid not in (os.getuid(), 0) or parent.st_mode & 0o022:
        sys.stderr.write("nexus exec agent: others may write to %s\n" % os.path.dirname(folder))
        return 3
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        sys.stderr.write("nexus exec agent: %s is not a folder of this user's alone (mode 0700)\n" % folder)
        return 3
    tmp = "%s.%d" % (path, os.getpid())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(tmp)
    finally:
        os.umask(old)
    listener.listen(128)
    os.rename(tmp, path)
    own = os.stat(path).st_ino
    pidfile = os.path.join(folder, "agent.pid")
    try:
        with open(pidfile) as f:
            pid, started = f.read().split()
        if proc_start(int(pid)) == started:
            os.kill(int(pid), signal.SIGTERM)
    except (OSError, ValueError):
        pass
    sys.stdout.flush()
    child = os.fork()
    if child:
        with open(pidfile + ".new", "w") as f:
            f.write("%d %s\n" % (child, proc_start(child)))
        os.rename(pidfile + ".new", pidfile)
        sys.stdout.write("ready %d\n" % child)
        sys.stdout.flush()
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    serve(listener, path, own)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "start":
        sys.exit(start(sys.argv[2]))
    sys.stderr.write("usage: python3 - start SOCKET\n")
    sys.exit(2)
