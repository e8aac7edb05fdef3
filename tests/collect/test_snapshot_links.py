"""Issue 21, class 12: ``collect --local-dir`` and links out of the snapshot. A snapshot file that
is a link to ``/etc/passwd`` (or ``/dev/zero``) is refused with one line naming it, and nothing is
written; links that stay inside the snapshot, and a snapshot folder that is itself a link, work."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _collect(snapshot, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "star1.cli", "collect", "--sources", "gptfuzz", "--local-dir",
                           str(snapshot), "--out", str(out), "--no-decontaminate", "--set", "skip_embedding=true",
                           "-q"], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero"])
def test_a_link_out_of_the_snapshot_is_refused(tmp_path, target):
    snapshot = tmp_path / "snap"
    (snapshot / "gptfuzz").mkdir(parents=True)
    (snapshot / "gptfuzz" / "question_list.csv").symlink_to(target)
    out = tmp_path / "prompts.jsonl"
    proc = _collect(snapshot, out)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line == (f"star1 collect: error: {snapshot / 'gptfuzz' / 'question_list.csv'}: links to {target}, "
                    f"outside the snapshot folder {snapshot}; star1 reads snapshot files only from inside it "
                    "(copy the file in instead)")
    assert not out.exists()


def test_links_inside_the_snapshot_and_a_linked_snapshot_folder_work(tmp_path, shared_data):
    real = tmp_path / "real"
    (real / "gptfuzz").mkdir(parents=True)
    (real / "store").mkdir()
    (real / "store" / "q.csv").write_bytes((shared_data / "gptfuzz" / "question_list.csv").read_bytes())
    (real / "gptfuzz" / "question_list.csv").symlink_to(real / "store" / "q.csv")
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    out = tmp_path / "prompts.jsonl"
    proc = _collect(linked, out)
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) > 50
