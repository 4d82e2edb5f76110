"""A TCP relay that delays every chunk, each way (lib/fleet.py's DelayProxy runs it in the hub):

    python3 relay.py LISTEN_ADDRESS PORT TARGET_ADDRESS TARGET_PORT DELAY_SECONDS

Prints the port it listens on (PORT 0: any free one), then relays until killed."""
import sys
import time


def relay(listen, target, delay):
    import queue
    import socket
    import threading
    server = socket.create_server(listen)
    print(server.getsockname()[1], flush=True)

    def pump(source, sink):
        chunks = queue.Queue()

        def send():
            while True:
                due, data = chunks.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)        # the delay itself: what this relay simulates
                try:
                    sink.sendall(data)
                except OSError:
                    break
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=send, daemon=True).start()
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + delay, data or None))
            if not data:
                break

    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    a = sys.argv[1:]
    relay((a[0], int(a[1])), (a[2], int(a[3])), float(a[4]))
