#!/usr/bin/env python3
"""audit-first.py OP CMD...: runs CMD with $SMZ_SYSLOG_SOCKET on a socket of
its own and tells whether the audit entry of OP (its syslog copy, sent as
the entry is committed) had arrived when the first byte of CMD's output
did.  Prints "audit-first" or "output-first", then CMD's exit code; CMD's
output goes to the file named by $AUDIT_FIRST_OUT.  The copy is a datagram
on a local socket: once sent it is in our receive queue, so looking there
the moment output appears is exact, without timing."""
import os, socket, subprocess, sys, tempfile

op = sys.argv[1].encode()
d = tempfile.mkdtemp(dir=".")
path = os.path.abspath(os.path.join(d, "log.sock"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
env = dict(os.environ, SMZ_SYSLOG_SOCKET=path)
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, env=env)
first = p.stdout.read(1)
seen = False
s.setblocking(False)
while True:
    try:
        if b" op=" + op + b" " in s.recv(4096):
            seen = True
    except BlockingIOError:
        break
with open(os.environ["AUDIT_FIRST_OUT"], "wb") as f:
    f.write(first + p.stdout.read())
rc = p.wait()
os.unlink(path)
os.rmdir(d)
print("audit-first" if seen else ("output-first" if first else "no-output"))
print(rc)
