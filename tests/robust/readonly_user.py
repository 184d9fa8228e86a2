#!/usr/bin/python3
"""What a user who may only read a stream can do to it (issue 8), as
robust.py runs it under another uid (nobody):

    readonly_user.py LOCATION [FRAMES]

It tries to open the location's lock file (DIR/.NAME.lock) for reading,
for writing and both, and says what happened ("LOCKFILE O_RDONLY refused
EACCES"); then, for every file the path names while it runs, it opens the
file read-only and takes OFD read locks on byte 0 (the byte the writer
write-locks) and on the whole file (start 0, length 0), as anyone who may
read a file can; where a live writer's lock refuses those, it read-locks
the rest of the file (from byte 1).  It says "LOCKED inode byte0=held
whole=held rest=-" (or EAGAIN where refused).  It keeps every lock until it
is killed.  With FRAMES it also reads that many frames with the Python
module's Reader meanwhile (read-only: copies, no reader-table entry),
printing "FRAME seq writer_id leased" for each and "READ n" after them.

It needs nothing but the Python module (mmapring) and robustlib's lock
helpers: no GStreamer, no file it cannot read as that user.
"""

import errno
import os
import signal
import sys
import time

import robustlib as rl

POLL_S = 0.02


def try_lock_file(loc):
    for name in ("O_RDONLY", "O_WRONLY", "O_RDWR"):
        try:
            fd = os.open(rl.lock_path(loc), getattr(os, name) |
                         os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            print("LOCKFILE %s refused %s" % (name, errno.errorcode.get(
                e.errno, e.errno)), flush=True)
        else:
            os.close(fd)
            print("LOCKFILE %s opened" % name, flush=True)


def read_lock(loc, start, length):
    """(fd, "held") or (None, "EAGAIN"...): a read lock on its own open
    file description, so that locks never merge."""
    fd = os.open(loc, os.O_RDONLY | os.O_CLOEXEC)
    try:
        rl.take_read_lock(fd, start, length)
    except OSError as e:
        os.close(fd)
        return None, errno.errorcode.get(e.errno, str(e.errno))
    return fd, "held"


def lock_current(loc, held):
    """Read-locks the file the path names now, once per inode: byte 0 and
    the whole file, which a live writer's write lock on byte 0 refuses;
    then the rest of the file (from byte 1), which nobody can refuse."""
    try:
        ino = os.stat(loc).st_ino
        byte0, how0 = read_lock(loc, rl.WRITER_LOCK_OFFSET, 1)
        whole, how_whole = read_lock(loc, 0, 0)
        rest, how_rest = read_lock(loc, 1, 0) if whole is None else \
            (None, "-")
    except FileNotFoundError:
        return
    except OSError as e:
        if ino not in held:
            print("OPEN %d refused %s" % (ino, errno.errorcode.get(e.errno)),
                  flush=True)
        held[ino] = []
        return
    if ino in held:
        for fd in (byte0, whole, rest):
            if fd is not None:
                os.close(fd)
        return
    held[ino] = [fd for fd in (byte0, whole, rest) if fd is not None]
    try:
        os.close(os.open(loc, os.O_RDWR | os.O_CLOEXEC))
        rw = "opened"
    except OSError as e:
        rw = "refused " + errno.errorcode.get(e.errno, str(e.errno))
    print("LOCKED %d byte0=%s whole=%s rest=%s (read-write open %s)" %
          (ino, how0, how_whole, how_rest, rw), flush=True)


def main():
    loc = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    print("UID %d GID %d" % (os.getuid(), os.getgid()), flush=True)
    try_lock_file(loc)
    held = {}
    reader = None
    n = 0
    if frames:
        import mmapring
        reader = mmapring.Reader(loc)
    while not stop:
        lock_current(loc, held)
        if reader is None or n >= frames:
            time.sleep(POLL_S)
            continue
        f = reader.read(POLL_S)
        if f is None:
            continue
        n += 1
        print("FRAME %d %d %d" % (f.seq, f.writer_id, int(f.leased)),
              flush=True)
        f.close()
        if n == frames:
            print("READ %d" % n, flush=True)
            reader.close()


if __name__ == "__main__":
    main()
