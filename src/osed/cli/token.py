"""``osed token create`` (an access token from OSED's local issuer) and ``osed token rotate``
(a new signing key; the previous one verifies for the grace period)."""

from __future__ import annotations

import argparse
import importlib
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from osed.cli._output import document_text, emit
from osed.domain.errors import ConfigurationError, Problem, ValidationError
from osed.domain.identity import Role
from osed.runtime.settings import Settings, load_settings

MAX_TTL_S = 366 * 86400


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "token",
        help="issue access tokens from OSED's local issuer, rotate its signing key",
        description="OSED's own issuer (docs/identity.md): its keys live in the state "
        "folder (identity.key_file), created on first use.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="print a signed access token",
        description="Prints one JSON object shaped like an OAuth token response: "
        "access_token, token_type, expires_in, and the issuer, audience, subject, roles, party "
        "and areas the token states (`jq -r .access_token` gives the bare token).",
    )
    create.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role of the subject (repeatable)",
    )
    create.add_argument("--subject", required=True, help="who the token names (sub)")
    create.add_argument("--party", default=None, help="the market party of a participant")
    create.add_argument(
        "--area",
        action="append",
        default=[],
        help="an electric area of a grid manager (repeatable)",
    )
    create.add_argument(
        "--ttl", type=int, default=3600, help="lifetime in seconds (default: %(default)s)"
    )
    create.add_argument(
        "--audience", default=None, help="the audience (default: the identity.audience setting)"
    )
    _common(create)
    create.set_defaults(handler=_create)

    rotate = commands.add_parser(
        "rotate",
        help="sign with a new key from now on",
        description="The previous key stays in the JWKS for identity.key_grace_s (or --grace) "
        "seconds, so the tokens it signed stay valid; older retired keys are dropped.",
    )
    rotate.add_argument("--grace", type=float, default=None, help="grace period in seconds")
    _common(rotate)
    rotate.set_defaults(handler=_rotate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (else $OSED_CONFIG)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("osed-state"),
        help="the state folder of `osed serve` (default: %(default)s)",
    )


def _identity() -> ModuleType:
    """``osed.runtime.identity``, which needs the identity extra (PyJWT, cryptography)."""
    try:
        return importlib.import_module("osed.runtime.identity")
    except ImportError as exc:
        raise ConfigurationError(
            f"osed token needs {exc.name}: pip install 'osed[identity]'"
        ) from exc


def _local_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    issuer = settings.identity.issuer
    if issuer is not None:
        raise ConfigurationError(
            f"identity.issuer is {issuer}: the API accepts that provider's tokens, "
            "not the local issuer's; get a token from the provider"
        )
    return settings


def _create(args: argparse.Namespace) -> int:
    roles = {Role(name) for name in args.role}
    problems = []
    if args.subject == "":
        problems.append(Problem("$.subject", "empty", "--subject must not be empty"))
    if Role.PARTICIPANT in roles and not args.party:
        problems.append(Problem("$.party", "missing", "a participant needs --party"))
    if Role.GRID_MANAGER in roles and not args.area:
        problems.append(Problem("$.areas", "missing", "a grid manager needs at least one --area"))
    if not 0 < args.ttl <= MAX_TTL_S:
        problems.append(Problem("$.ttl", "out_of_range", f"--ttl must be 1 to {MAX_TTL_S} s"))
    if problems:
        raise ValidationError(problems, subject="token request")
    settings = _local_settings(args)
    issued = (
        _identity()
        .local_issuer(settings, args.state_dir)
        .issue(
            subject=args.subject,
            audience=args.audience or settings.identity.audience,
            roles=roles,
            party=args.party,
            areas=args.area,
            ttl=timedelta(seconds=args.ttl),
        )
    )
    emit(issued.response(), document_text, args)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = _local_settings(args)
    grace_s = settings.identity.key_grace_s if args.grace is None else args.grace
    if not 0 <= grace_s <= 366 * 86400:
        raise ValidationError(
            [Problem("$.grace", "out_of_range", "--grace must be 0 to 31,622,400 s")],
            subject="rotation",
        )
    identity = _identity()
    issuer = identity.local_issuer(settings, args.state_dir)
    kid = issuer.rotate(timedelta(seconds=grace_s))
    result = {
        "kid": kid,
        "key_file": str(identity.key_file_path(settings.identity, args.state_dir)),
        "jwks": [key["kid"] for key in issuer.jwks()["keys"]],
    }
    emit(result, document_text, args)
    return 0
