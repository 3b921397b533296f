"""Crash safety of the app as users drive it: imports and key changes killed at random moments.

The test runs this module as a child process (`python -m tests.stress.test_crash_imports`) that
opens the real app (`MiaodaApp` with the encrypted-file secret store) on one data folder and
calls its bridge in a loop: `importCustomProviders` of export files with encrypted keys and
without, with every `onConflict` and sometimes a changed baseURL, and add/update/remove with
API keys. It reports each call on stdout. The parent kills it with SIGKILL at seeded random
moments, many times on the same folder: mostly mid-call, sometimes while the app opens, which is
when it finishes or undoes a key change the previous kill cut short. After each kill the parent
opens the app on a copy of the folder (so the next child still meets what the kill left) and
checks:

- the SQLite file passes `PRAGMA integrity_check` and the app opens on it;
- every change the child reported committed is there, exactly, key included;
- the call in flight landed wholly or not at all for each provider it touched (an import is
  applied provider by provider, each all-or-nothing, so it may be cut between two providers);
- nothing is half-written across the two stores: a provider with `hasApiKey` has exactly its
  own key in the secret store, and once the app has opened, the secret store holds no key
  that no provider claims and no key change is left unfinished (docs/DATA.md);
- the canary rule: no key ever appears in the SQLite file, its WAL, the logs or an export.

Files with keys are encrypted with the lightest scrypt parameters the importer accepts; with the
default ones, key derivation would fill most of the child's time and few kills would land in a
write. Every key starts with the canary key, so one scan finds any of them.

Protocol, one line each, flushed:
    opening                                 about to open the app (which finishes or undoes any
                                            key change a kill interrupted)
    ready                                   the app is open; the child read its providers
    begin <seq> <op> <json>                 about to call the bridge; json holds, per provider
                                            name, the state before and after ([baseURL, model,
                                            key tag or null], or null when absent)
    committed <seq>                         the call returned what the child predicted
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backend import transfer
from backend.app import MiaodaApp
from backend.manager import KEY_JOURNAL
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.helpers import CANARY_KEY, files_containing
from tests.killable import run_until_killed

pytestmark = pytest.mark.slow

SEED = 20261203
KILLS = 30
CHILD_SECONDS = 20  # a child that is never killed stops by itself, and the test fails
CHILD_MODULE = "tests.stress.test_crash_imports"  # this file, run from the repository root
TOKEN = "crash-imports-token"
PASSPHRASE = "correct horse battery staple"
BASE_URLS = tuple(f"https://api{i}.example.com/v1" for i in range(3))
# Names every keyed export file draws from, so later imports meet earlier ones as conflicts.
SHARED_NAMES = ("alpha", "beta", "gamma", "delta")
KEYED_FILES = 6
CONFLICTS = ("replace", "replace", "skip", "rename")  # rename last: it adds providers
NO_CHECK = {"validate": False}  # no connection test: there is no server behind the baseURLs
MAX_PROVIDERS = 16  # beyond this the child removes more than it adds
# Key tags that show a half-written provider: its row claims a key the secret store lacks, or
# the stored key is not the one the row describes (its hint differs).
MISSING = -1
MISMATCHED = -2

State = tuple[str, str, int | None]  # baseURL, model, key tag (None: no key)
Model = dict[str, State]  # provider name -> state
Change = dict[str, State | None]  # provider name -> state, None when absent


def key_for(tag: int) -> str:
    """The API key with this tag; every key starts with the canary, so a scan finds any leak."""
    return f"{CANARY_KEY}-{tag:06d}"


def tag_of(key: str) -> int:
    assert key.startswith(CANARY_KEY + "-"), "a key the test never wrote"
    return int(key.removeprefix(CANARY_KEY + "-"))


def wire(state: State) -> dict[str, Any]:
    """An export-file provider with this state (its key travels in the secrets block)."""
    base_url, model, _ = state
    return {
        "displayName": model.title(),
        "baseURL": base_url,
        "model": model,
        "type": "openai-compatible",
        "headers": {},
        "parameters": {},
        "auth": {"scheme": "bearer"},
        "endpoints": {},
    }


def write_export(path: Path, entries: list[tuple[str, State]], passphrase: str | None) -> None:
    """An export file as the app writes it; keys only encrypted, and only with a passphrase."""
    keys = {name: key_for(tag) for name, (_, _, tag) in entries if tag is not None}
    text = transfer.build_export(
        [{"name": name, **wire(state)} for name, state in entries],
        keys if passphrase else None,
        passphrase,
    )
    path.write_text(text, encoding="utf-8")


def make_keyed_files(folder: Path, rng: random.Random) -> None:
    """Export files with encrypted keys (scrypt is slow, so the parent makes them once)."""
    manifest = []
    for number in range(KEYED_FILES):
        names = rng.sample(SHARED_NAMES, rng.randint(2, 3))
        entries = [
            (
                name,
                (
                    rng.choice(BASE_URLS),
                    f"file{number}-{name}",
                    999_000_000 + number * 10 + index if rng.random() < 0.85 else None,
                ),
            )
            for index, name in enumerate(names)
        ]
        path = folder / f"keyed-{number}.json"
        write_export(path, entries, PASSPHRASE)
        manifest.append({"path": str(path), "entries": entries})
    (folder / "keyed.json").write_text(json.dumps(manifest), encoding="utf-8")


# --- the child --------------------------------------------------------------------------


def _say(line: str) -> None:
    print(line, flush=True)


def free_name(name: str, taken: set[str], model: Model) -> str:
    """The name an import with onConflict "rename" gives (the manager's rule)."""
    for n in range(2, 10_000):
        suffix = f"-{n}"
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate not in taken and candidate not in model:
            return candidate
    raise AssertionError("no free name")


def predict_import(
    model: Model, entries: list[tuple[str, State]], on_conflict: str
) -> tuple[Change, dict[str, Any]]:
    """Each provider's state after the import, and the report the bridge should give."""
    after: Change = {}
    work = dict(model)
    report: dict[str, Any] = {"added": [], "updated": [], "skipped": [], "renamed": []}
    taken = {name for name, _ in entries}
    for name, state in entries:
        current = work.get(name)
        if current is not None and on_conflict == "skip":
            report["skipped"].append(name)
            continue
        if current is not None and on_conflict == "rename":
            new_name = free_name(name, taken, work)
            taken.add(new_name)
            report["renamed"].append({"from": name, "to": new_name})
            name, current = new_name, None
        if current is None:
            report["added"].append(name)
        else:
            report["updated"].append(name)
            base_url, model_name, tag = state
            if tag is None and current[2] is not None and current[0] == base_url:
                # Same endpoint and no key in the file: the stored key stays.
                state = (base_url, model_name, current[2])
        after[name] = state
        work[name] = state
    return after, report


@dataclass
class Call:
    """A bridge call the child is about to make, the states it leads to, the report it gives."""

    op: str
    after: Change
    run: Callable[[], dict[str, Any]]
    report: dict[str, Any] | None = None


@dataclass
class Child:
    """The child's view of the store (kept equal to it) and its supply of fresh tags."""

    app: MiaodaApp
    rng: random.Random
    run: int
    folder: Path
    keyed: list[dict[str, Any]]
    model: Model = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def fresh(self) -> int:
        self.counter += 1
        return self.run * 1_000_000 + self.counter

    def reload(self) -> None:
        """Read every provider back through the bridge (and each key through the manager)."""
        answer = self.app.bridge().getAllCustomProviders()
        assert answer["success"], answer
        self.model, self.ids = {}, {}
        for provider in answer["providers"]:
            key = self.app.manager.api_key(provider["id"]) if provider["hasApiKey"] else None
            tag = None if key is None else tag_of(key)
            self.model[provider["name"]] = (provider["baseURL"], provider["model"], tag)
            self.ids[provider["name"]] = provider["id"]

    def next_call(self) -> Call:
        """The next bridge call; with many providers, more removes and no new ones."""
        crowded = len(self.model) > MAX_PROVIDERS
        weights = {
            self.add: 0 if crowded else 15,
            self.update: 30 if self.model else 0,
            self.remove: (30 if crowded else 10) if self.model else 0,
            self.import_plain: 20,
            self.import_keyed: 25,
        }
        make = self.rng.choices(list(weights), list(weights.values()))[0]
        return make(crowded)

    def add(self, crowded: bool) -> Call:
        model = f"m-{self.fresh()}"
        name = f"a{self.fresh()}"
        tag = self.fresh() if self.rng.random() < 0.85 else None
        state: State = (self.rng.choice(BASE_URLS), model, tag)
        config = {"name": name, **wire(state)}
        if tag is not None:
            config["apiKey"] = key_for(tag)
        bridge = self.app.bridge()
        return Call("add", {name: state}, lambda: bridge.addCustomProvider(config, NO_CHECK))

    def update(self, crowded: bool) -> Call:
        """A new model, sometimes a new baseURL; a new key, no key, or the key kept."""
        model = f"m-{self.fresh()}"
        keyed = sorted(name for name, state in self.model.items() if state[2] is not None)
        # Mostly a provider with a key: replacing one is the change with the most steps.
        name = self.rng.choice(keyed if keyed and self.rng.random() < 0.8 else sorted(self.model))
        base_url, _, tag = self.model[name]
        updates: dict[str, Any] = {"model": model, "displayName": model.title()}
        if self.rng.random() < 0.4:
            base_url = self.rng.choice(BASE_URLS)
            updates["baseURL"] = base_url
        what = self.rng.random()
        if what < 0.6:
            tag = self.fresh()
            updates["apiKey"] = key_for(tag)
        elif what < 0.7:
            tag = None
            updates["apiKey"] = ""
        pid = self.ids[name]
        bridge = self.app.bridge()
        return Call(
            "update",
            {name: (base_url, model, tag)},
            lambda: bridge.updateCustomProvider(pid, updates, NO_CHECK),
        )

    def remove(self, crowded: bool) -> Call:
        name = self.rng.choice(sorted(self.model))
        pid = self.ids[name]
        bridge = self.app.bridge()
        return Call("remove", {name: None}, lambda: bridge.removeCustomProvider(pid))

    def import_plain(self, crowded: bool) -> Call:
        """A file without keys: some providers already here (baseURLs may move), some new."""
        model = f"m-{self.fresh()}"
        names = sorted(self.model)
        entries: list[tuple[str, State]] = []
        for name in self.rng.sample(names, min(len(names), self.rng.randint(1, 3))):
            base_url = self.model[name][0]
            if self.rng.random() < 0.5:
                base_url = self.rng.choice(BASE_URLS)
            entries.append((name, (base_url, f"{model}-{len(entries)}", None)))
        for _ in range(self.rng.randint(0, 0 if crowded else 1)):
            entries.append((f"i{self.fresh()}", (self.rng.choice(BASE_URLS), model, None)))
        self.rng.shuffle(entries)
        path = self.folder / f"plain-{self.run}-{self.counter}.json"
        write_export(path, entries, None)
        return self.importing("plain", entries, {"path": str(path)}, crowded)

    def import_keyed(self, crowded: bool) -> Call:
        """One of the parent's files with encrypted keys."""
        chosen = self.rng.choice(self.keyed)
        options = {"path": chosen["path"], "passphrase": PASSPHRASE}
        return self.importing("keyed", chosen["entries"], options, crowded)

    def importing(
        self, kind: str, entries: list[tuple[str, State]], options: dict[str, Any], crowded: bool
    ) -> Call:
        on_conflict = self.rng.choice(CONFLICTS[:-1] if crowded else CONFLICTS)
        after, report = predict_import(self.model, entries, on_conflict)
        bridge = self.app.bridge()
        return Call(
            f"import-{kind}-{on_conflict}",
            after,
            lambda: bridge.importCustomProviders({**options, "onConflict": on_conflict}),
            report,
        )

    def loop(self) -> None:
        deadline = time.monotonic() + CHILD_SECONDS
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            call = self.next_call()
            before = {name: self.model.get(name) for name in call.after}
            change = json.dumps({"before": before, "after": call.after})
            _say(f"begin {seq} {call.op} {change}")
            result = call.run()
            assert result["success"], (call.op, result)
            if call.report is not None:
                got = {k: result[k] for k in call.report}
                assert got == call.report and result["errors"] == [], (call.op, result)
            for name, state in call.after.items():
                if state is None:
                    del self.model[name]
                else:
                    self.model[name] = state
            if call.op == "add":
                self.ids[next(iter(call.after))] = result["id"]
            elif call.op.startswith("import"):
                self.reload()
            _say(f"committed {seq}")


def child_main(data_dir: str, run: int, seed: int) -> None:
    """Drive the app until killed (or CHILD_SECONDS pass), reporting each call."""
    folder = Path(data_dir).parent / "exports"
    keyed = json.loads((folder / "keyed.json").read_text(encoding="utf-8"))
    for item in keyed:
        item["entries"] = [(name, state_of(state)) for name, state in item["entries"]]
    _say("opening")
    app = MiaodaApp(Path(data_dir), secret_backend="file", token=TOKEN)
    child = Child(app, random.Random(seed * 1000 + run), run, folder, keyed)
    child.reload()
    _say("ready")
    child.loop()
    app.close()


# --- the parent -------------------------------------------------------------------------


def run_child_until_killed(data_dir: Path, run: int, wait_for: str, delay: float) -> list[str]:
    """Start a child, kill it `delay` s after a line starting `wait_for`; its whole lines."""
    return run_until_killed(
        CHILD_MODULE,
        [str(data_dir), str(run), str(SEED)],
        errors=data_dir.parent / f"child-{run}.stderr",
        label=f"the child of run {run}",
        delay=delay,
        wait_for=wait_for,
    )


def state_of(raw: Any) -> State | None:
    return None if raw is None else (raw[0], raw[1], raw[2])


@dataclass
class Replay:
    """What a child's lines say: the committed states, and the call in flight if any."""

    expected: Model
    committed: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    op: str | None = None  # the call in flight at the kill
    before: Change = field(default_factory=dict)
    after: Change = field(default_factory=dict)


def replay(lines: list[str], expected: Model, run: int) -> Replay:
    """Apply the reported calls to `expected` (what the store held when the child started)."""
    result = Replay(dict(expected))
    for line in lines:
        word, *rest = line.split(" ", 3)
        if word == "begin":
            _, op, payload = rest
            change = json.loads(payload)
            result.op = op
            result.before = {n: state_of(s) for n, s in change["before"].items()}
            result.after = {n: state_of(s) for n, s in change["after"].items()}
            for name, state in result.before.items():
                assert result.expected.get(name) == state, (
                    f"run {run}: the child saw {name} as {state}, the parent expected "
                    f"{result.expected.get(name)}"
                )
        elif word == "committed":
            assert result.op is not None
            for name, state in result.after.items():
                if state is None:
                    result.expected.pop(name, None)
                else:
                    result.expected[name] = state
            result.committed += 1
            result.ops[result.op.split("-")[0]] += 1
            result.op = None
            result.before, result.after = {}, {}
    return result


def unfinished(data_dir: Path) -> dict[str, str]:
    """The key changes the last kill left in the journal (read without opening the app)."""
    with Storage(data_dir / "miaoda.db") as storage:
        journal = storage.get_setting(KEY_JOURNAL, {})
    assert isinstance(journal, dict)
    return journal


def integrity(db: Path) -> list[tuple[str]]:
    """SQLite's own verdict on the file, through a plain connection."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


def observe(data_dir: Path, run: int) -> tuple[Model, dict[str, str | None]]:
    """Open the app as a user would and read every provider with its key; then check that
    the secret store holds no other key and no key change is left unfinished."""
    app = MiaodaApp(data_dir, secret_backend="file", token=TOKEN)
    try:
        answer = app.bridge().getAllCustomProviders()
        assert answer["success"], answer
        seen: Model = {}
        ids: dict[str, str | None] = {}
        for provider in answer["providers"]:
            key = app.manager.api_key(provider["id"]) if provider["hasApiKey"] else None
            tag: int | None = None
            if provider["hasApiKey"]:
                tag = MISSING if key is None else tag_of(key)
                if key is not None and provider["apiKeyHint"] != "sk-…" + key[-4:]:
                    tag = MISMATCHED
            seen[provider["name"]] = (provider["baseURL"], provider["model"], tag)
            ids[provider["id"]] = key
        journal = app.storage.get_setting(KEY_JOURNAL, {})
    finally:
        app.close()
    assert not journal, f"run {run}: the app opened with key changes left unfinished: {journal}"
    return seen, ids


def key_rows(db: Path) -> dict[str, list[str]]:
    """Each provider's key pool as its rows name it: provider id -> secret store entries, in
    order (a key kept from before pools is named by the provider id, later ones
    `<provider id>:key:<key id>`)."""
    rows: dict[str, list[str]] = {}
    with closing(sqlite3.connect(db)) as conn:
        query = "SELECT provider_id, entry FROM provider_keys ORDER BY provider_id, position"
        for provider_id, entry in conn.execute(query):
            rows.setdefault(provider_id, []).append(entry)
    return rows


def check_secret_file(data_dir: Path, ids: dict[str, str | None], run: int) -> None:
    """The raw encrypted file, read afresh: exactly the entries the key rows name, each
    provider's first one holding the key it reads with, and no others."""
    stored = EncryptedFileSecretStore(data_dir)._load()
    pools = key_rows(data_dir / "miaoda.db")
    named = {entry for entries in pools.values() for entry in entries}
    orphans = sorted(set(stored) - named)
    assert not orphans, f"run {run}: keys no provider claims are left behind: {orphans}"
    missing = sorted(named - set(stored))
    assert not missing, f"run {run}: key rows name entries the secret store lacks: {missing}"
    firsts = {pid: stored[entries[0]] for pid, entries in pools.items()}
    claimed = {pid: key for pid, key in ids.items() if key is not None}
    assert firsts == claimed, f"run {run}: the secret store and the providers disagree"


@pytest.mark.timeout(300)
def test_killed_app_keeps_every_committed_change_and_no_half_written_provider(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.stress.report import note

    exports = data_dir.parent / "exports"
    exports.mkdir()
    rng = random.Random(SEED)
    # The lightest scrypt parameters the importer accepts: with the default ones, deriving the
    # key would take most of the child's time and the kills would rarely land in a write.
    with monkeypatch.context() as patch:
        patch.setattr(transfer, "SCRYPT_N", 2**14)
        patch.setattr(transfer, "SCRYPT_R", 1)
        make_keyed_files(exports, rng)
    check = data_dir.parent / "check"
    expected: Model = {}
    calls = 0
    ops: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    pending = False
    started = time.monotonic()
    for run in range(KILLS):
        # Most kills land a few milliseconds into a call, when it is writing; some at any
        # moment of the child's work; some while the app opens, and so, when the last kill
        # left a key change unfinished, while the app finishes or undoes it.
        roll = rng.random()
        if roll < (0.35 if pending else 0.1):
            outcomes["kills while opening"] += 1
            outcomes["of them with unfinished key changes"] += pending
            lines = run_child_until_killed(data_dir, run, "opening", rng.uniform(0.0, 0.05))
        elif roll < 0.7:
            target = f"begin {rng.randint(1, 40)} "
            lines = run_child_until_killed(data_dir, run, target, rng.uniform(0.0, 0.01))
        else:
            lines = run_child_until_killed(data_dir, run, "ready", rng.uniform(0.0, 0.5))
        result = replay(lines, expected, run)
        calls += result.committed
        ops.update(result.ops)

        assert integrity(data_dir / "miaoda.db") == [("ok",)], f"run {run}: the file is damaged"
        pending = bool(unfinished(data_dir))
        outcomes["kills that left a key change unfinished"] += pending
        # Check a copy, so the next child still finds what this kill left (and may be killed
        # while it finishes that).
        shutil.rmtree(check, ignore_errors=True)
        shutil.copytree(data_dir, check)
        seen, ids = observe(check, run)
        for name in set(result.expected) | set(seen):
            if name in result.after:
                continue
            assert seen.get(name) == result.expected.get(name), (
                f"run {run}: {name} should be {result.expected.get(name)}, is {seen.get(name)}"
            )
        if result.op is not None:
            outcomes["kills mid-call"] += 1
            landed = 0
            for name, after in result.after.items():
                before = result.before[name]
                now = seen.get(name)
                assert now in (before, after), (
                    f"run {run}: {result.op} left {name} half-written: {now}, "
                    f"neither {before} nor {after}"
                )
                if before != after:
                    landed += now == after
                    outcome = "landed whole" if now == after else "not at all"
                    outcomes[f"providers {outcome}"] += 1
            moved = sum(result.before[n] != a for n, a in result.after.items())
            if result.op.startswith("import") and 0 < landed < moved:
                outcomes["imports cut between providers"] += 1
        check_secret_file(check, ids, run)
        files = [
            path
            for folder in (data_dir, check, exports)
            for path in files_containing(folder, CANARY_KEY)
        ]
        assert not files, f"run {run}: a key in plain text in {files}"
        expected = seen

    elapsed = time.monotonic() - started
    assert calls > 2 * KILLS, "the child hardly called anything; the test proved nothing"
    assert outcomes["kills mid-call"] >= KILLS // 4, "too few kills landed during a call"
    note(
        f"crash imports: {KILLS} SIGKILLs in {elapsed:.1f} s; {calls} calls committed "
        f"({', '.join(f'{n} {op}' for op, n in sorted(ops.items()))}); "
        f"{outcomes['kills mid-call']} kills mid-call: "
        f"{outcomes['providers landed whole']} providers landed whole, "
        f"{outcomes['providers not at all']} not at all, 0 half-written, "
        f"{outcomes['imports cut between providers']} imports cut between providers; "
        f"{outcomes['kills that left a key change unfinished']} kills left a key change "
        f"unfinished, {outcomes['kills while opening']} kills while the app opened "
        f"({outcomes['of them with unfinished key changes']} with one to finish); "
        f"{len(expected)} providers at the end"
    )


if __name__ == "__main__":
    child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
