"""``dpproxy serve`` and ``dpproxy passwd``.

``serve`` starts the PostgreSQL wire server on a policy directory; ``passwd`` turns a
password (read from a prompt, or from standard input when it is not a terminal; never
from the command line, where other users could read it) into a SCRAM-SHA-256 verifier
to paste into ``dpproxy.yaml`` under ``analysts.<name>.scram``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from typing import Any

from dpproxy.server.scram import make_verifier


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``passwd`` to the ``dpproxy`` command line."""
    serve = subparsers.add_parser("serve", help="run the PostgreSQL wire server")
    serve.add_argument("--policies", required=True, metavar="DIR", help="policy directory")
    serve.add_argument("--state", metavar="DIR", help="state directory (default: from policy)")
    serve.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: server.port, 5433)")
    serve.set_defaults(handler=_serve)
    passwd = subparsers.add_parser(
        "passwd", help="create a SCRAM-SHA-256 verifier for analysts.<name>.scram"
    )
    passwd.add_argument("--iterations", type=int, default=4096, help="PBKDF2 iterations")
    passwd.set_defaults(handler=_passwd)


def _serve(args: argparse.Namespace) -> int:
    from dpproxy.proxy import Proxy
    from dpproxy.server.server import Server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    proxy = Proxy(args.policies, state_dir=args.state)
    try:
        server = Server(proxy, host=args.host, port=args.port)
    except BaseException:
        proxy.close()
        raise
    asyncio.run(server.serve())
    return 0


def _passwd(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("passwords do not match", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("an empty password is not allowed", file=sys.stderr)
        return 1
    if args.iterations < 4096:
        print("use at least 4096 iterations", file=sys.stderr)
        return 1
    print(make_verifier(password, iterations=args.iterations))
    return 0
