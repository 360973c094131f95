"""api-abuse.py PORT WHAT ...: hostile clients of smz-api for
tests/t0305-api-limits.sh; each prints one line of what it saw.
  idle N SRC          N TCP connections from address SRC that send nothing;
                      holds them until the server closes them or 25 s pass;
                      prints "connected C refused R closed K" (K of the C
                      accepted ones closed by the server)
  slowhdr SRC         as gw1 over TLS, a request line and headers at one byte
                      every 0.2 s; "closed after S s" or "open after 25 s"
  headers N           as gw1, a request with N header fields; the status line
  bigbody SIZE PATH   as gw1, Content-Length SIZE and then 1 MB of body at
                      most; the status line, or "closed"
"""
import socket
import ssl
import sys
import time

port, what = int(sys.argv[1]), sys.argv[2]


def tls(src="127.0.0.1"):
    ctx = ssl.create_default_context(cafile="tlsca.pem")
    ctx.load_cert_chain("gw1.pem", "gw1.key")
    raw = socket.create_connection(("127.0.0.1", port), source_address=(src, 0))
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def status(s, limit=25):
    s.settimeout(limit)
    answer = b""
    try:
        while b"\r\n" not in answer:
            d = s.recv(4096)
            if not d:
                break
            answer += d
    except OSError:
        pass
    return answer.split(b"\r\n")[0].decode() if answer else "closed"


if what == "idle":
    n, src = int(sys.argv[3]), sys.argv[4]
    socks, refused = [], 0
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), source_address=(src, 0), timeout=5))
        except OSError:
            refused += 1
    # an accepted connection the server drops reads as EOF or a reset
    closed, end = set(), time.time() + 25
    while len(closed) < len(socks) and time.time() < end:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(0.1)
    print("connected %d refused %d closed %d" % (len(socks), refused, len(closed)))
elif what == "slowhdr":
    s = tls(sys.argv[3])
    req = b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"y" * 4000 + b"\r\n\r\n"
    t0 = time.time()
    s.settimeout(0.2)
    for b in req:
        if time.time() - t0 > 25:
            break
        try:
            s.sendall(bytes([b]))
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    t = time.time() - t0
    print("closed after %d s" % t if t <= 25 else "open after 25 s")
elif what == "headers":
    n = int(sys.argv[3])
    s = tls()
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(n))
    try:
        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n" + hdrs + b"Content-Length: 0\r\n\r\n")
    except OSError:
        pass
    print(status(s))
elif what == "bigbody":
    size, path = int(sys.argv[3]), sys.argv[4]
    s = tls()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/rfc822\r\nContent-Length: %d\r\n\r\n"
              % (path.encode(), size))
    try:
        s.sendall(b"x" * (1 << 20))
    except OSError:
        pass
    print(status(s))
