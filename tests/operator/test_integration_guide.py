"""docs/integration-guide.md followed to the letter by a new team: every command it gives, run in order.

How the guide is read (its "How the steps are kept true" says the same to its readers):

- A ``console`` block is run: each ``$`` line is a command (a line ending in ``\\`` goes on to the next) and the
  lines under it are what it must print, in that order, compared with spaces collapsed; ``…`` stands for what
  differs from run to run, and a line that is only ``…`` for lines left out.
- A block whose info string says ``file=NAME`` (```` ```json file=dfe.json ````) is written whole to NAME; one that
  says ``excerpt=federation.yaml`` must be what the commands left in the federation file.
- The commands use the shell variables the guide's ``$ export NAME=value`` lines declare. The test gives each a
  value of its own (the live apps' addresses, the workspace's paths), expands them itself as a shell would
  (``$NAME`` and ``${NAME}``, not inside single quotes) and refuses any it does not know; in written files and
  excerpts it replaces each variable's example value with its own.
- Commands run with subprocess, never a shell, and only the programs in ``PROGRAMS``: ``ida-hub`` and ``python``
  are this virtualenv's.

The federation is served by the test on a copy of federation.yaml and the keys (``workspace``), looking at the file
every 0.1 s, so the running apps take up each enrolment without a restart. When the guide's toolkit settings file
is written, the test starts the team's service: tests/interop's python3-saml service, with the settings that file
makes. It ends with a citizen signing in there, and the service holding her pairwise identifier.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.serving import BaseWSGIServer

from federation.config import load_federation
from federation.verify.pairwise import pairwise_identifier
from stub_idp.services import services as stub_idp_services
from stub_idp.users import persistent_id
from tests.interop import python3_saml_sp
from tests.interop.conftest import Interop, ToolkitJourney, ToolkitService
from tests.operator.conftest import Workspace
from tests.support import LiveFederation, bind, serve, start_federation, stop, url_of

pytestmark = pytest.mark.live

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration-guide.md"
VENV_BIN = Path(sys.executable).parent
# What the guide may run: the tools it tells a team to install, ida-hub, the team's Python, and cp.
PROGRAMS = {
    "ida-hub": str(VENV_BIN / "ida-hub"),
    "python": sys.executable,
    **{name: shutil.which(name) or name for name in ("openssl", "curl", "xmlsec1", "grep", "cp")},
}
SETTINGS_FILE = "saml_settings.py"  # the toolkit's settings: once written, the team's service starts with them
DEPARTMENT = "dfe"
IDP_ONE = "stub-idp-one"
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
SAFE = re.compile(r"[\w@%+=:,./-]+")


# ---- reading the guide ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, the options after it (``file=NAME``), its lines."""

    language: str
    options: dict[str, str]
    lines: tuple[str, ...]


@dataclass
class Command:
    """A ``$`` line (with its continuations) and the lines the guide shows it printing."""

    text: str
    printed: list[str] = field(default_factory=list)


def read_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    opened: tuple[str, dict[str, str]] | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if opened is None:
            fence = re.fullmatch(r"```(\w+)(.*)", line)
            if fence:
                options = dict(option.split("=", 1) for option in fence[2].split() if "=" in option)
                opened, lines = (fence[1], options), []
        elif line == "```":
            blocks.append(Block(opened[0], opened[1], tuple(lines)))
            opened = None
        else:
            lines.append(line)
    assert opened is None, f"{GUIDE}: a code block is never closed"
    return blocks


def read_commands(block: Block) -> list[Command]:
    commands: list[Command] = []
    continued = False
    for line in block.lines:
        if continued:
            commands[-1].text += " " + line.strip().removesuffix("\\")
        elif line.startswith("$ "):
            commands.append(Command(line[2:].removesuffix("\\")))
        else:
            assert commands, f"{GUIDE}: a console block starts with output, not a command: {line!r}"
            commands[-1].printed.append(line)
        continued = line.endswith("\\")
    return commands


def declared_variables(blocks: list[Block]) -> dict[str, str]:
    """Each variable the guide's ``$ export NAME=value`` lines set, with the example value it gives."""
    examples = {}
    for block in blocks:
        for command in read_commands(block) if block.language == "console" else []:
            words = shlex.split(command.text, comments=True)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                examples[name] = value
    return examples


# ---- following it ---------------------------------------------------------------------------------------------


@dataclass
class Team:
    """The new team at work: its directory, the variables the guide uses (with this run's values), what it runs."""

    directory: Path
    variables: dict[str, str]
    examples: dict[str, str]
    on_written: dict[str, Callable[[Path], None]]
    ran: list[list[str]] = field(default_factory=list)

    def expand(self, command: str) -> str:
        """The command as a shell would have it: each ``$NAME`` given its value, except inside single quotes."""

        def value(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            assert name in self.variables, f"the guide uses ${name}, which it never sets: {command}"
            return self.variables[name]

        parts = re.split(r"('[^']*')", command)
        return "".join(part if part.startswith("'") else VARIABLE.sub(value, part) for part in parts)

    def with_values(self, text: str) -> str:
        """Guide text (a file, an excerpt, a printed line) with each variable's example value, or ``$NAME``, made
        this run's."""
        for name in sorted(self.examples, key=lambda name: -len(self.examples[name])):
            text = text.replace(self.examples[name], self.variables[name])
        return VARIABLE.sub(lambda match: self.variables.get(match[1] or match[2], match[0]), text)

    def run(self, command: Command) -> None:
        words = shlex.split(self.expand(command.text), comments=True)
        if words[0] == "export":
            return  # the variables: their values are the test's own
        assert words[0] in PROGRAMS, f"the guide runs {words[0]}, which a team is not told to install: {command.text}"
        self.ran.append(words)
        result = subprocess.run(
            [PROGRAMS[words[0]], *words[1:]],
            cwd=self.directory,
            env={**os.environ, **self.variables},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command.text}\nexited {result.returncode}:\n{output}"
        self.check_printed(command, output)

    def check_printed(self, command: Command, output: str) -> None:
        """Each line the guide shows is printed, in that order."""
        actual = [" ".join(line.split()) for line in output.splitlines()]
        at = 0
        for line in command.printed:
            shown = " ".join(self.with_values(line).split())
            if shown in ("", "…"):
                continue
            pattern = re.compile(".*".join(re.escape(part) for part in shown.split("…")))
            found = next((i for i in range(at, len(actual)) if pattern.fullmatch(actual[i])), None)
            assert found is not None, f"{command.text}\ndid not print, in order:\n{line}\nIt printed:\n{output}"
            at = found + 1

    def write(self, block: Block) -> None:
        path = self.directory / block.options["file"]
        path.write_text(self.with_values("\n".join(block.lines)) + "\n", encoding="utf-8")
        if path.name in self.on_written:
            self.on_written.pop(path.name)(path)

    def follow(self, blocks: list[Block], federation_file: Path) -> None:
        for block in blocks:
            if block.language == "console":
                for command in read_commands(block):
                    self.run(command)
            elif "file" in block.options:
                self.write(block)
            elif block.options.get("excerpt") == "federation.yaml":
                self.check_excerpt(block, federation_file)
        assert not self.on_written, f"the guide never writes {', '.join(self.on_written)}"

    def check_excerpt(self, block: Block, federation_file: Path) -> None:
        """What the guide shows of the federation file is what the commands before it wrote there."""
        shown = yaml.safe_load(self.with_values("\n".join(block.lines)))
        written = yaml.safe_load(federation_file.read_text(encoding="utf-8"))
        departments = {department["id"]: department for department in written["departments"]}
        for department in shown["departments"]:
            assert departments.get(department["id"]) == department, f"{GUIDE}: the federation.yaml excerpt differs"


# ---- the federation and the team's service --------------------------------------------------------------------


def name_live_apps(federation_file: Path, live: LiveFederation) -> None:
    """The workspace's federation file names the live apps' addresses in its ``urls``, as a deployment's does, so
    that what ida-hub prints is where the apps are. The running apps already use these; nothing else changes."""
    text = federation_file.read_text(encoding="utf-8")
    for name, url in live.urls.items():
        text, count = re.subn(rf"^(  {name}: ).*$", rf"\g<1>{url}", text, count=1, flags=re.MULTILINE)
        assert count == 1, f"no urls.{name} in {federation_file}"
    federation_file.write_text(text, encoding="utf-8")


@pytest.fixture()
def federation(workspace: Workspace, tmp_path: Path) -> Iterator[tuple[LiveFederation, Path]]:
    """The three apps on the workspace's files, taking up a changed file within 0.1 s; a records directory for
    the test matching services the stub service plays."""
    records = tmp_path / "records"
    records.mkdir()
    live, servers = start_federation(
        workspace.keys,
        None,
        federation_file=workspace.federation_file,
        federation_reload_seconds=0.1,
        records_dir=records,
    )
    name_live_apps(workspace.federation_file, live)
    yield live, records
    stop(servers)


@dataclass
class TeamService:
    """The team's service: a port held before its URL goes into the federation file, served once the guide's
    settings file exists, by tests/interop's python3-saml service with the ``SETTINGS`` that file makes."""

    server: BaseWSGIServer
    toolkit: ToolkitService | None = None

    @property
    def base_url(self) -> str:
        return url_of(self.server)

    def start(self, settings_file: Path) -> None:
        settings: dict[str, Any] = runpy.run_path(str(settings_file))["SETTINGS"]
        app = python3_saml_sp.create_app(settings)
        serve(app, self.server)
        sp = settings["sp"]
        acs_urls = [sp["assertionConsumerService"]["url"]]
        self.toolkit = ToolkitService("teacher-training", self.base_url, sp["entityId"], acs_urls, app, settings)


@pytest.fixture()
def team_service() -> Iterator[TeamService]:
    service = TeamService(bind())
    yield service
    stop([service.server])


def pairwise_ids(live: LiveFederation, federation_file: Path, username: str) -> dict[str, str]:
    """``username``'s pairwise identifier through stub IDP One for each department's matching service."""
    federation = load_federation(federation_file, keys_dir=live.keys_dir, urls=live.urls)
    stub_idps = stub_idp_services(live.apps["stub_idp"])
    idp, user = stub_idps.idps[IDP_ONE], stub_idps.users.find(username)
    assert user is not None
    pid = persistent_id(idp.secret, idp.entry.entity_id, user)
    return {
        department.id: pairwise_identifier(idp.entry.entity_id, department.matching_services[0].entity_id, pid)
        for department in federation.file.departments
    }


def test_a_new_team_follows_the_guide_and_its_service_signs_a_citizen_in(
    workspace: Workspace, federation: tuple[LiveFederation, Path], team_service: TeamService, tmp_path: Path
) -> None:
    live, records = federation
    blocks = read_blocks(GUIDE.read_text(encoding="utf-8"))
    examples = declared_variables(blocks)
    variables = {
        "HUB": live.urls["hub"],
        "SERVICE": team_service.base_url,
        "FEDERATION_FILE": str(workspace.federation_file),
        "KEYS_DIR": str(workspace.keys),
        "STUB_SERVICE_RECORDS_DIR": str(records),
    }
    assert set(examples) == set(variables), "the guide's variables are not the ones this test gives values to"
    for name, value in variables.items():
        assert SAFE.fullmatch(value), f"${name} would need quoting in the guide's commands: {value}"
    team = Team(tmp_path / "team", variables, examples, {SETTINGS_FILE: team_service.start})
    team.directory.mkdir()

    team.follow(blocks, workspace.federation_file)

    assert [words[:3] for words in team.ran if words[0] == "ida-hub"] == [
        ["ida-hub", "enrol", "department"],
        ["ida-hub", "enrol", "service"],
        ["ida-hub", "self-check", "--metadata"],
        ["ida-hub", "self-check", "journey"],
    ]
    assert (records / f"{DEPARTMENT}.json").is_file()

    # A citizen signs in at the team's service, as the guide's last step invites: alice, whom dfe.json holds. The
    # stub service plays the new department's matching service, matching on the team's records.
    assert team_service.toolkit is not None
    metadata = (team.directory / "hub-metadata.xml").read_bytes()
    journey = ToolkitJourney(Interop(live, workspace.keys, metadata), team_service.toolkit)
    journey.sign_in("alice")
    answer = journey.to_service()
    assert answer["authenticated"], answer
    assert answer["errors"] == []
    assert answer["name_id_format"] == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert answer["attributes"]["outcome"] == ["match"]
    # Her pairwise identifier for the new department's matching service: not the one HMRC or DWP sees.
    identifiers = pairwise_ids(live, workspace.federation_file, "alice")
    assert answer["name_id"] == identifiers[DEPARTMENT]
    assert sorted(identifiers) == sorted(["hmrc", "dwp", DEPARTMENT])
    assert len(set(identifiers.values())) == 3
