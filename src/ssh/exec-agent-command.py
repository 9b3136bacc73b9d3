# The exec agent, part one (exec-agent.ts joins it and exec-agent.py into the one program python3
# reads on its stdin, this part first): the wire, and one command run the way sshd runs a session's,
# its pipes relayed as frames.
"""nexus exec agent: runs `nexus exec` commands in a workspace without a new SSH session for each.

Started by the daemon over one SSH login, as the workspace user, with this text on stdin:

  python3 - start SOCKET    bind SOCKET (its folder is made this user's alone, mode 0700), take over from
                            the agent that served before (it finishes its commands, takes no new ones),
                            print "ready PID", and serve in the background.

The agent keeps the environment of that login (PAM's, secrets included, and what the shell's rc files
exported; the daemon starts a new agent when the login environment changes) and runs each command the
way sshd runs a session's: the user's shell with -c and the same line, from the home folder, in a new
session, SIGPIPE at its default. A plain command (argv, an absolute folder, variables) skips the shell:
the agent does what the line would (the same environment, the program found on PATH), and leaves any
failure to the shell, so an error reads and exits as it does over SSH.

Each connection (a direct-streamlocal channel of the daemon's pooled SSH connection) carries one
request, or one after the other when the daemon asks to keep it (a channel's opening and closing cost
sshd, the daemon and this agent more than the command's own messages); the daemon keeps one waiting
ahead for its next command, so a connection may wait idle for its request (a replaced agent closes
those). Stdin may come right behind the request, before "s".
Frames both ways: type (1 byte), length (4 bytes, big-endian), payload.
  daemon -> agent   R {"line", "tag", "plain"?: {"argv", "cwd", "env"}, "startNow"?, "keep"?}  run a command
                       (first frame); "s" goes out with the first output or the exit (or after 5 ms), at
                       once with startNow (the daemon waits for it to send stdin). keep: the daemon sent
                       stdin and its end with the request, and the connection may carry its next request
                    K {"tag"}  kill one (first frame)
                    I bytes  stdin    E  end of stdin
  agent -> daemon   a  taken (sent before any process is made: the connection ending after it and
                       before s or f is answered CONNECTION_LOST, never run again over SSH)
                    s {"pid"}  started    f {"message"}  not started (the daemon falls back to SSH)
                    o bytes  stdout   e bytes  stderr
                    x {"code"} or {"signal"}, "keep"?  the end (after the command exited and its output
                       ended); keep: this connection now waits for the next request, as a new one does
                    k  killed
Only the socket's owner reaches it: the folder's mode, and the peer's uid checked on every connection.
(/run/nexus/secrets itself is the user's tmpfs, 0700 after every start; the agent's own 0700
folder does not rely on that.)
"""
import json, os, pwd, re, select, signal, socket, stat, struct, subprocess, sys, threading, time

MAX_FRAME = 1 << 20
# Stdin not yet taken by the command: past this, the agent stops reading the connection until it drains.
MAX_PENDING_STDIN = 1 << 20
# Output frames the connection did not take yet: past this, the agent stops reading the command's
# stdout and stderr until they go out (the command then waits, as under sshd), and goes on reading
# the connection: stdin and output each wait only for their own reader.
MAX_QUEUED_OUTPUT = 256 << 10

# How long a connection accepted after the agent was replaced may take to send its request.
QUEUED_REQUEST_S = 2.0
# How long "s" may wait to go out with the command's first output or its exit (one message, not two,
# for a short command), unless the request says the daemon waits for it (streamed stdin). The login's
# NEXUS_EXEC_AGENT_HOLD_MS changes it (the tests' way to see the two go out together on a slow machine).
try:
    START_HOLD_S = max(0.0, min(float(os.environ.get("NEXUS_EXEC_AGENT_HOLD_MS", "5")), 60000.0)) / 1000
except ValueError:
    START_HOLD_S = 0.005


class Closed(Exception):
    pass


def next_frame(inbuf):
    """The first whole frame in inbuf, taken out of it; None while it is not all there."""
    if len(inbuf) < 5:
        return None
    size = struct.unpack_from(">I", inbuf, 1)[0]
    if size > MAX_FRAME:
        raise Closed()
    if len(inbuf) < 5 + size:
        return None
    kind, payload = bytes(inbuf[:1]), bytes(inbuf[5:5 + size])
    del inbuf[:5 + size]
    return kind, payload


def read_frame(sock, inbuf):
    """The connection's next frame. Reads what has come (a request's stdin and its end arrive with it:
    they stay in inbuf for the command, so one read takes the whole request)."""
    while True:
        f = next_frame(inbuf)
        if f is not None:
            return f
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed()
        inbuf += chunk


def frame(kind, payload=b""):
    return kind + struct.pack(">I", len(payload)) + payload


TAKEN = frame(b"a")


def spawn(args, executable, cwd, env):
    """The process, and our ends of its stdin, stdout and stderr pipes (descriptors: no file objects,
    whose making costs a few syscalls each; the pipes are made here, so the child's ends are closed
    here once it has them)."""
    fds = []
    try:
        for _ in range(3):
            fds.extend(os.pipe())
        proc = subprocess.Popen(
            args, executable=executable, cwd=cwd, env=env,
            stdin=fds[0], stdout=fds[3], stderr=fds[5],
            close_fds=True, start_new_session=True, restore_signals=True)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    for fd in (fds[0], fds[3], fds[5]):
        os.close(fd)
    return proc, fds[1], fds[2], fds[4]


class Command:
    def __init__(self, conn, base_env, shell, home, req):
        self.conn = conn
        self.send_lock = threading.Lock()
        self.keep = req.get("keep") is True
        plain = req.get("plain")
        self.proc = None
        # Our ends of the command's stdin, stdout and stderr (None once closed).
        self.stdin = self.stdout = self.stderr = None
        if plain:
            # What the line does (export the tag; cd; exec [env K=V] argv) without a shell between:
            # the environment bash would hand over, the program found on PATH. Any failure (no such
            # folder or program, not executable) goes to the shell below, which says it in its words.
            env = {**base_env, "NEXUS_EXEC_ID": req["tag"], "SHLVL": "0", "PWD": plain["cwd"], "OLDPWD": home}
            env.update(plain.get("env") or {})
            try:
                self.proc, self.stdin, self.stdout, self.stderr = spawn(plain["argv"], None, plain["cwd"], env)
            except (OSError, ValueError):
                self.proc = None
        if self.proc is None:
            self.proc, self.stdin, self.stdout, self.stderr = spawn([os.path.basename(shell), "-c", req["line"]], shell, home, base_env)

    # "s", while it waits to go out in front of the next frame.
    held_start = None
    # Frames not sent yet (the connection was full), in order, before anything sent after them.
    queued = b""

    def send(self, data):
        """Sends what the connection takes now, without waiting (a short command's frames go in one
        send, as before); the rest waits in `queued` for relay() to send once the connection takes it.
        The connection stays blocking (other code sets timeouts on it): MSG_DONTWAIT is per send."""
        with self.send_lock:
            if self.held_start is not None:
                data, self.held_start = self.held_start + data, None
            if self.queued:
                self.queued += data
                return
            try:
                n = self.conn.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                n = 0
            if n < len(data):
                self.queued = bytearray(data[n:])

    def send_queued(self):
        """Sends what the connection takes of `queued` now, without waiting."""
        with self.send_lock:
            try:
                n = self.conn.send(self.queued, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            del self.queued[:n]

    def send_last(self, data):
        """The last frame, after everything queued (waits until the connection took it all)."""
        with self.send_lock:
            if self.held_start is not None:
                data, self.held_start = self.held_start + data, None
            data, self.queued = self.queued + data, b""
            self.conn.sendall(data)

    def relay(self, inbuf):
        """Streams output and stdin until the command exited and its output ended; then its status.
        inbuf: what came after the request (its stdin, its end). True when the connection is kept for
        the next request."""
        p, conn = self.proc, self.conn
        poller = select.poll()
        tags = {}  # descriptor -> what it is

        def watch(fd, tag, events=select.POLLIN):
            poller.register(fd, events)
            tags[fd] = tag

        def unwatch(fd):
            poller.unregister(fd)
            del tags[fd]

        # Our ends of stdout and stderr stay blocking: they are read only when poll says there is
        # something (bytes or their end), and by this thread alone, so a read never waits.
        watch(self.stdout, b"o")
        watch(self.stderr, b"e")
        cfd = conn.fileno()
        # The connection: POLLIN while stdin may come (pending below its bound), POLLOUT while output
        # waits to go out.
        cevents = select.POLLIN
        watch(cfd, b"c")
        self.pidfd = None
        if hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(p.pid)
                watch(self.pidfd, b"p")
            except OSError:
                self.pidfd = None
        hold_until = time.monotonic() + START_HOLD_S
        pending = bytearray()  # stdin bytes for the command
        stdin_end, exited = False, False
        stdin_nonblocking = False
        outputs = 2
        writing = False
        reading_output = True

        def close_stdin():
            nonlocal writing
            if writing:
                unwatch(self.stdin)
                writing = False
            os.close(self.stdin)
            self.stdin = None

        def take():
            """The frames whole in inbuf; False when the daemon broke the protocol."""
            nonlocal stdin_end
            while True:
                try:
                    f = next_frame(inbuf)
                except Closed:
                    return False
                if f is None:
                    return True
                kind, payload = f
                if kind == b"I" and self.stdin is not None and not stdin_end:
                    pending.extend(payload)
                elif kind == b"E":
                    stdin_end = True
                    if self.stdin is not None and not pending:
                        close_stdin()

        # Stdin that came with the request (all of it and its end, for a short one): taken before the loop.
        if not take():
            return self.abandon()
        while outputs or not exited:
            want_write = self.stdin is not None and bool(pending)
            if want_write != writing:
                if want_write:
                    if not stdin_nonblocking:
                        os.set_blocking(self.stdin, False)
                        stdin_nonblocking = True
                    watch(self.stdin, b"i", select.POLLOUT)
                else:
                    unwatch(self.stdin)
                writing = want_write
            want_events = (select.POLLIN if len(pending) < MAX_PENDING_STDIN else 0) | (select.POLLOUT if self.queued else 0)
            if want_events != cevents:
                if not cevents:
                    watch(cfd, b"c", want_events)
                elif not want_events:
                    unwatch(cfd)
                else:
                    poller.modify(cfd, want_events)
                cevents = want_events
            want_output = len(self.queued) < MAX_QUEUED_OUTPUT
            if want_output != reading_output:
                for fd, tag in ((self.stdout, b"o"), (self.stderr, b"e")):
                    if fd is not None:
                        if want_output:
                            watch(fd, tag)
                        else:
                            unwatch(fd)
                reading_output = want_output
            timeout = None if self.pidfd is not None or outputs else 0.05
            if self.held_start is not None:
                left = hold_until - time.monotonic()
                if left <= 0:
                    try:
                        self.send(b"")
                    except OSError:
                        return self.abandon()
                else:
                    timeout = left if timeout is None else min(timeout, left)
            for fd, events in poller.poll(None if timeout is None else timeout * 1000):
                tag = tags.get(fd)  # None: closed by an earlier event of this round
                if tag in (b"o", b"e"):
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if chunk:
                        try:
                            self.send(frame(tag, chunk))
                        except OSError:
                            return self.abandon()
                    else:
                        unwatch(fd)
                        os.close(fd)
                        if tag == b"o":
                            self.stdout = None
                        else:
                            self.stderr = None
                        outputs -= 1
                elif tag == b"i":
                    try:
                        n = os.write(fd, pending)
                        del pending[:n]
                    except BlockingIOError:
                        pass
                    except OSError:  # the command closed its stdin: what is left goes nowhere, as under sshd
                        pending.clear()
                        close_stdin()
                    if self.stdin is not None and stdin_end and not pending:
                        close_stdin()
                elif tag == b"c":
                    if self.queued and events & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                        try:
                            self.send_queued()
                        except OSError:
                            return self.abandon()
                    if not (cevents & select.POLLIN and events & (select.POLLIN | select.POLLERR | select.POLLHUP)):
                        continue  # only room to send: a recv now would wait
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        # The daemon went away (its channel closed): the command loses its pipes, as under sshd.
                        return self.abandon()
                    inbuf += data
                    if not take():
                        return self.abandon()
                elif tag == b"p":
                    unwatch(fd)
                    p.wait()
                    exited = True
            if self.pidfd is None and not exited and p.poll() is not None:
                exited = True
        p.wait()
        self.close_fds()
        rc = p.returncode
        if rc < 0:
            try:
                name = signal.Signals(-rc).name[3:]
            except ValueError:
                name = str(-rc)
            status = json.dumps({"signal": name})[:-1]
        else:
            status = '{"code": %d' % rc
        # Kept only when all the daemon sent for this request has been read (its end of stdin last).
        keep = self.keep and rest_of_request(conn, inbuf, stdin_end)
        try:
            self.send_last(frame(b"x", (status + (', "keep": true}' if keep else "}")).encode()))
        except OSError:
            return False
        return keep

    pidfd = None

    def close_fds(self):
        for name in ("stdin", "stdout", "stderr", "pidfd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                try:
                    os.close(fd)
                except OSError:
                    pass

    def abandon(self):
        """The connection is gone (or broke the protocol): the command loses its pipes; never kept."""
        self.close_fds()
        self.proc.wait()
        return False


def rest_of_request(conn, inbuf, stdin_end):
    """Reads what is left of a kept request (stdin the command did not take, up to its end: the daemon
    sent it all with the request); True when the end came and nothing after it."""
    if stdin_end:
        return not inbuf
    try:
        conn.settimeout(QUEUED_REQUEST_S)
        while not stdin_end:
            while len(inbuf) >= 5 and not stdin_end:
                size = struct.unpack(">I", bytes(inbuf[1:5]))[0]
                if size > MAX_FRAME:
                    return False
                if len(inbuf) < 5 + size:
                    break
                kind = bytes(inbuf[:1])
                del inbuf[:5 + size]
                if kind == b"E":
                    stdin_end = True
                elif kind != b"I":
                    return False
            if not stdin_end:
                data = conn.recv(65536)
                if not data:
                    return False
                inbuf += data
        return not inbuf
    except OSError:
        return False
    finally:
        try:
            conn.settimeout(None)
        except OSError:
            pass
