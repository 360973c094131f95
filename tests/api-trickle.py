"""api-trickle.py PORT PATH: as gateway gw1, send a request whose body
comes one byte every 0.2 seconds, and print the status line of the answer,
or "closed" when the server closes the connection, or "no answer" after
20 seconds.  For tests/t0300-api.sh."""
import socket
import ssl
import sys
import time

port, path = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile="tlsca.pem")
ctx.load_cert_chain("gw1.pem", "gw1.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000\r\n\r\n" % path.encode())
s.settimeout(0.2)
end = time.time() + 20
answer = b""
while time.time() < end:
    try:
        s.sendall(b"x")
    except OSError:
        pass
    try:
        data = s.recv(4096)
        if not data:
            break
        answer += data
        if b"\r\n" in answer:
            break
    except socket.timeout:
        pass
    except OSError:
        break
line = answer.split(b"\r\n")[0].decode() if answer else ("closed" if time.time() < end else "no answer")
print(line)
