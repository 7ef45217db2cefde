"""Redis ACL users for one Redis shared by the hub and the stubs: each app reaches only its own keys.

Every key an app uses starts with its store prefix (``load_runtime(settings, store_prefix=...)``,
``RedisStore._key``), so a user per app limited to ``~<prefix>:*`` cannot read or change another app's
journeys, replay cache, counters or audit stream. docs/redis.md quotes what this module makes, and
tests/federation/test_redis_acl.py runs the federation under it and checks both.
"""

from __future__ import annotations

import shlex

# The Redis user of each app, and the prefix of every key it uses. The operations app is the hub's.
USERS = {"ida-hub": "hub", "ida-stub-idp": "stub-idp", "ida-stub-service": "stub-service"}

# Every command an app sends through federation/store.py, and nothing else.
STORE_COMMANDS = (
    "+get",  # a journey, a stub's record
    "+set",  # with EX (every value has a time to live) and NX (the replay cache: "seen once")
    "+getdel",  # take a value that may be used once (an outstanding request)
    "+del",
    "+evalsha",  # put_if's Lua script; the GET and SET it runs are checked against these rules too
    "+script|load",  # redis-py loads the script when this Redis has not got it yet
    "+ping",  # /_status, which also runs the script
    "+select",  # only when REDIS_URL names a database other than 0
)
# The hub's too, which the stubs do not keep: the dashboard's counters and the audit stream.
HUB_COMMANDS = (
    "+hincrby",  # the dashboard's counters (hub/stats.py), each with a time to live
    "+hsetnx",  # the funnel's steps each journey has reached (hub/stats.py), so each journey counts once
    "+expire",
    "+hgetall",  # the operations dashboard reads the counters
    "+xadd",  # the audit stream, with AUDIT_SINK=redis (hub/audit.py), capped with MAXLEN
)

# Redis 7.2 and later: redis-py names itself on every new connection (CLIENT SETINFO) and ignores a refusal,
# but each refusal is an entry in ACL LOG. Redis 7.0 does not know the subcommand and refuses the rule.
CLIENT_SETINFO = "+client|setinfo"


def rules(prefix: str, *, redis_version: tuple[int, ...] = (7, 0)) -> list[str]:
    """The ACL rules, all but the password, for the app whose keys start with ``prefix``.

    ``reset`` first, so that setting a user again leaves exactly these rules; then only the app's keys, no
    Pub/Sub channel, and no command that is not listed. Add the password: ``>password`` in ``ACL SETUSER``,
    ``#`` and its SHA-256 in an ACL file.
    """
    commands = [*STORE_COMMANDS, *(HUB_COMMANDS if prefix == "hub" else ())]
    if redis_version >= (7, 2):
        commands.append(CLIENT_SETINFO)
    return ["reset", "on", f"~{prefix}:*", "resetchannels", "-@all", *commands]


def password_variable(user: str) -> str:
    """The environment variable that holds ``user``'s password in docs/redis.md: ``IDA_HUB_PASSWORD``."""
    return user.upper().replace("-", "_") + "_PASSWORD"


def redis_cli_command(user: str) -> str:
    """The shell command that makes ``user`` (Redis 7.0), its password read from the environment."""
    quoted = (shlex.quote(rule) for rule in rules(USERS[user]))
    return " ".join(["redis-cli", "ACL", "SETUSER", user, *quoted, f'">${password_variable(user)}"'])


def acl_file_line(user: str) -> str:
    """``user`` as a line of an ACL file (Redis 7.0), with a placeholder for its password's SHA-256."""
    return " ".join(["user", user, *rules(USERS[user]), "#<SHA-256 of the password, in hex>"])
