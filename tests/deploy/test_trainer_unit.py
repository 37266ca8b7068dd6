"""The trainer's systemd unit, and that the user data installs exactly what it names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from teachbox.settings import Settings
from tests.deploy.conftest import TRAINER_UNIT, user_data


def service(unit) -> dict[str, str]:
    return dict(unit["Service"])


def test_trainer_runs_as_the_unprivileged_user_the_user_data_creates(unit, resources):
    user = service(unit)["User"]
    assert user not in ("root", "0")
    assert service(unit)["Group"] == user
    assert re.search(rf"useradd --system .*--shell /sbin/nologin {user}\n", user_data(resources))


def test_trainer_is_restarted_after_a_crash_but_not_after_its_idle_stop(unit):
    assert service(unit)["Restart"] == "on-failure"


def test_trainer_gets_sigterm_and_a_lease_of_time_to_release_its_job(unit):
    assert service(unit)["KillSignal"] == "SIGTERM"
    # Only the daemon gets the SIGTERM; it owns the two-stage shutdown of its helpers.
    assert service(unit)["KillMode"] == "mixed"
    # Killed sooner, the claim would only be taken over after the lease ran out anyway.
    assert float(service(unit)["TimeoutStopSec"]) >= Settings().lease_seconds


def test_trainer_reads_the_environment_file_the_user_data_writes(unit, resources):
    assert f"cat > {service(unit)['EnvironmentFile']} <<EOF" in user_data(resources)


def test_trainer_runs_the_teachbox_the_user_data_installs(unit, resources):
    executable, *arguments = service(unit)["ExecStart"].split()
    venv = Path(executable).parent.parent
    assert arguments == ["trainer"]
    assert f"python3.11 -m venv {venv}\n" in user_data(resources)
    assert f"{venv}/bin/pip install" in user_data(resources)


def test_user_data_installs_and_enables_this_very_unit(resources):
    script = user_data(resources)
    assert f"install -m 0644 /opt/teachbox/src/deploy/{TRAINER_UNIT.name} /etc/systemd/system/" in script
    assert script.rstrip().endswith(f"systemctl enable --now {TRAINER_UNIT.name}")


def test_trainer_starts_on_boot(unit):
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_has_no_directive_systemd_would_ignore(tmp_path):
    # The venv does not exist on this machine; every other line is checked as written.
    text = re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", TRAINER_UNIT.read_text(), flags=re.M)
    copy = tmp_path / TRAINER_UNIT.name
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
