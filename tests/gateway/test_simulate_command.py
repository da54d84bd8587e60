"""``linegate simulate``: run as a real subprocess; its endpoints JSON, clean stops, its errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from simulators.line import MACHINE_KINDS

PLACEMENT = MACHINE_KINDS["placement"].available()
DEADLINE = 40.0  # real seconds; only bounds a broken run


def linegate(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def test_simulate_runs_n_boards_and_writes_endpoints_json(tmp_path: Path) -> None:
    """`linegate simulate --boards 5 --endpoints-json PATH` starts the default line (the whole SMT
    line), writes where every machine listens, prints the same, and exits 0 once 5 boards left
    the line."""
    target = tmp_path / "endpoints.json"
    done = subprocess.run(
        linegate("simulate", "--boards", "5", "--time-scale", "1000", "--endpoints-json", str(target)),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text(encoding="utf-8"))
    machines = document["machines"]
    expected = [
        "scanner",
        "printer",
        "spi",
        "placement",
        "aoi",
        "reflow",
        "xray",
        "solder",
        "coater",
        "ict",
        "fct",
    ]
    assert [m["machine_id"] for m in machines] == [e for e in expected if PLACEMENT or e != "placement"]
    assert (document["line"], document["time_scale"], document["open_ends"]) == ("default", 1000.0, False)
    by_id = {m["machine_id"]: m for m in machines}
    assert by_id["reflow"]["protocol"] == "modbus-tcp" and isinstance(by_id["reflow"]["port"], int)
    assert by_id["solder"]["url"].startswith("opc.tcp://127.0.0.1:")
    assert by_id["coater"]["tty_path"].startswith("/dev/")
    # Result-file stations name their folder (a temporary one, gone once the line stopped).
    assert all(Path(by_id[m]["folder"]).is_absolute() for m in ("aoi", "xray", "ict"))
    assert by_id["printer"]["protocol"] == "cfx-amqp1.0" and by_id["fct"]["tty_path"].startswith("/dev/")
    for machine in machines:
        assert machine["host"] == "127.0.0.1"
        assert machine["cfx_handle"].startswith("linegate.")
        hermes = machine["hermes"]
        assert {"lane_id", "upstream_host", "upstream_port", "downstream_port", "vertical_port"} <= set(
            hermes
        )
        assert isinstance(hermes["vertical_port"], int) and isinstance(hermes["downstream_port"], int)
        assert machine["machine_id"] in done.stdout and str(hermes["vertical_port"]) in done.stdout
    assert "stopping: 5 boards left the line" in done.stdout


def test_sigterm_stops_the_line_cleanly(tmp_path: Path) -> None:
    """Without --boards the line runs until SIGTERM; then every server closes and it exits 0."""
    line_file = tmp_path / "one.toml"
    line_file.write_text('[[machines]]\nkind = "coater"\nid = "c1"\n', encoding="utf-8")
    process = subprocess.Popen(
        linegate("simulate", str(line_file), "--open-ends", "--upstream", "127.0.0.1:9"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the banner: the line is up
        assert first.startswith("line one: 1 machines"), first
        listing = process.stdout.readline()
        assert listing.startswith("c1 ") and "upstream->127.0.0.1:9" in listing
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopping: 0 boards left the line" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[[machines]]\nkind = "mixer"\nid = "m"\n', "machines[0].kind: unknown machine kind 'mixer'"),
        ("machines = [", "not valid TOML"),
    ],
)
def test_a_bad_line_file_is_exit_status_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """A mistake in the line file stops before anything starts, with the file and key path."""
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"linegate simulate: {path}: " in err and expected in err


def test_a_bad_scenario_is_refused_before_the_line_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario naming a machine the line lacks is exit status 2 with the scenario's key path."""
    line_file = tmp_path / "one.toml"
    line_file.write_text('[[machines]]\nkind = "coater"\nid = "c1"\n', encoding="utf-8")
    scenario = tmp_path / "faults.toml"
    scenario.write_text(
        '[[faults]]\nat = 1\nmachine = "oven"\naction = "drop_connection"\n', encoding="utf-8"
    )
    assert main(["simulate", str(line_file), "--scenario", str(scenario)]) == 2
    assert f"{scenario}: faults[0].machine: no machine 'oven'" in capsys.readouterr().err


def coater_line(path: Path, name: str, handle: str) -> Path:
    path.write_text(
        f'name = "{name}"\n[[machines]]\nkind = "coater"\nid = "c1"\nhandle = "{handle}"\n', encoding="utf-8"
    )
    return path


def test_a_factory_file_runs_its_lines_side_by_side(tmp_path: Path) -> None:
    """`linegate simulate --factory FILE --boards 3` runs every listed line with its own ports and
    board source, writes one endpoints document per line, and stops once each line made 3 boards."""
    (tmp_path / "lines").mkdir()
    coater_line(tmp_path / "lines" / "a.toml", "line-a", "plant.coat.a")
    coater_line(tmp_path / "lines" / "b.toml", "line-b", "plant.coat.b")
    factory = tmp_path / "plant.toml"
    factory.write_text('name = "plant"\nlines = ["lines/a.toml", "lines/b.toml"]\n', encoding="utf-8")
    target = tmp_path / "endpoints.json"
    done = subprocess.run(
        linegate("simulate", "--factory", str(factory), "--boards", "3", "--time-scale", "1000",
                 "--endpoints-json", str(target)),
        capture_output=True, text=True, timeout=DEADLINE, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["factory"] == "plant"
    assert [line["line"] for line in document["lines"]] == ["line-a", "line-b"]
    [a], [b] = (line["machines"] for line in document["lines"])
    assert (a["cfx_handle"], b["cfx_handle"]) == ("plant.coat.a", "plant.coat.b")
    assert a["port"] != b["port"] and a["hermes"]["vertical_port"] != b["hermes"]["vertical_port"]
    assert "line line-a: 1 machines" in done.stdout and "line line-b: 1 machines" in done.stdout
    for name in ("line-a", "line-b"):
        assert f"line {name}: stopping: " in done.stdout
        left = int(done.stdout.split(f"line {name}: stopping: ")[1].split()[0])
        assert left >= 3


def test_several_line_files_on_the_command_line_run_together(tmp_path: Path) -> None:
    a = coater_line(tmp_path / "a.toml", "line-a", "plant.coat.a")
    b = coater_line(tmp_path / "b.toml", "line-b", "plant.coat.b")
    done = subprocess.run(
        linegate("simulate", str(a), str(b), "--boards", "2", "--time-scale", "1000"),
        capture_output=True, text=True, timeout=DEADLINE, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "line line-a: 1 machines" in done.stdout and "line line-b: 1 machines" in done.stdout


@pytest.mark.parametrize(
    ("b_name", "b_handle", "extra", "expected"),
    [
        ("line-a", "plant.coat.b", [], "two lines are named 'line-a'"),
        ("line-b", "plant.coat.a", [], "CFX handle 'plant.coat.a' is used by line-a/c1 and by line-b/c1"),
        ("line-b", "plant.coat.b", ["--open-ends"], "--open-ends applies to one line; 2 lines were given"),
    ],
)
def test_lines_that_cannot_run_together_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    b_name: str,
    b_handle: str,
    extra: list[str],
    expected: str,
) -> None:
    a = coater_line(tmp_path / "a.toml", "line-a", "plant.coat.a")
    b = coater_line(tmp_path / "b.toml", b_name, b_handle)
    factory = tmp_path / "plant.toml"
    factory.write_text('lines = ["a.toml", "b.toml"]\n', encoding="utf-8")
    assert main(["simulate", str(a), str(b), *extra]) == 2
    assert expected in capsys.readouterr().err
    assert main(["simulate", "--factory", str(factory), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err
    if not extra:
        assert f"linegate simulate: {factory}: lines: " in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("lines = []\n", "lines: must be a non-empty list of line file paths"),
        ('lines = ["a.toml"]\nfloor = 2\n', "unknown key(s): floor"),
        ('lines = ["missing.toml"]\n', "missing.toml: cannot read: No such file"),
    ],
)
def test_a_bad_factory_file_is_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    coater_line(tmp_path / "a.toml", "line-a", "plant.coat.a")
    factory = tmp_path / "plant.toml"
    factory.write_text(content, encoding="utf-8")
    assert main(["simulate", "--factory", str(factory)]) == 2
    assert expected in capsys.readouterr().err
