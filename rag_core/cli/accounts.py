"""``python -m rag_core user add|list|remove|passwd``: the accounts of the optional login."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO

from rag_core.auth.accounts import Accounts, check_password
from rag_core.config import Settings
from rag_core.errors import ConfigurationError


def add_user_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="accounts for the login (FOLIO_LOGIN=on)")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="add an account bound to one workspace")
    add.add_argument("name")
    add.add_argument(
        "--workspace",
        dest="user_workspace",
        required=True,
        help="the workspace this account sees (1-40 of a-z, 0-9, '-', '_')",
    )
    _password_option(add)
    actions.add_parser("list", help="list the accounts")
    remove = actions.add_parser("remove", help="remove an account (its workspace's data stays)")
    remove.add_argument("name")
    passwd = actions.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    _password_option(passwd)


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )


def read_password(
    from_stdin: bool,
    stdin: TextIO | None = None,
    prompt: Callable[[str], str] | None = None,
) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt (``getpass``)."""
    prompt = prompt or getpass.getpass
    if from_stdin:
        line = (stdin or sys.stdin).readline()
        return check_password(line.rstrip("\r\n"))
    first = check_password(prompt("Password: "))
    if prompt("Password again: ") != first:
        raise ConfigurationError("password: the two entries differ; nothing was changed")
    return first


def run_user_command(
    args: argparse.Namespace, settings: Settings, out: TextIO, stdin: TextIO | None = None
) -> int:
    accounts = Accounts.open(settings.registry_url)
    action = args.user_command
    if action == "list":
        for account in accounts.list():
            print(
                f"{account.name}  workspace {account.workspace}  since {account.created_at}",
                file=out,
            )
        return 0
    if action == "remove":
        account = accounts.remove(args.name)
        print(
            f"removed user {account.name} (workspace {account.workspace} keeps its documents)",
            file=out,
        )
        return 0
    password = read_password(args.password_stdin, stdin)
    if action == "add":
        account = accounts.add(args.name, password, args.user_workspace)
        print(f"added user {account.name} (workspace {account.workspace})", file=out)
    else:
        account = accounts.set_password(args.name, password)
        print(f"password of {account.name} changed", file=out)
    return 0
