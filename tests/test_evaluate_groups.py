"""`faceprint evaluate ... --groups CSV`: FMR and FNMR per group of the user's CSV (FRVT Part 3 style),
on real photos (12 AT&T people), in the text, the JSON and the HTML report."""
from __future__ import annotations

import json
import math

import pytest

from faceprint.cli.app import main
from faceprint.errors import UsageError
from faceprint.evaluate.groups import UNLABELLED, read_groups


@pytest.fixture(scope="module")
def twelve(att, tmp_path_factory):
    """s1..s12 of AT&T (10 photos each) as a folder-per-identity set, and a CSV naming 8 of them."""
    root = tmp_path_factory.mktemp("groups")
    data = root / "data"
    for i in range(1, 13):
        (data / f"s{i}").mkdir(parents=True)
        for p in sorted((att / f"s{i}").iterdir()):
            (data / f"s{i}" / p.name).symlink_to(p)
    csv = root / "groups.csv"
    csv.write_text("identity,group\n" + "".join(f"s{i},{'north' if i <= 4 else 'south'}\n" for i in range(1, 9)))
    return data, csv, root


def test_per_group_rates_in_text_json_and_html(twelve, capsys):
    data, csv, root = twelve
    out = root / "report"
    assert main(["-q", "evaluate", "folders", "--data", str(data), "--groups", str(csv), "--json",
                 str(root / "r.json"), "--report", str(out), "--no-cache"]) == 0
    text = capsys.readouterr().out
    assert "north x south" in text and "FMR within" in text
    d = json.loads((root / "r.json").read_text())["models"]["sface"]["groups"]
    assert set(d["groups"]) == {"north", "south", UNLABELLED} and d["csv_identities_in_dataset"] == 8
    assert d["threshold"] == pytest.approx(0.35787, abs=1e-4)       # the shipped FMR 1e-3 threshold
    for g in d["groups"].values():          # 4 people x 10 photos each: 4 x 45 mated, C(40, 2) - 180 non-mated
        assert g["identities"] == 4 and g["failed_to_enrol"] == 0
        assert g["mated_pairs"] == 180 and g["nonmated_pairs_within"] == 600
        assert 0 <= g["fnmr"] < 0.1 and 0 <= g["fmr_within"] < 0.02
    cross = {tuple(c["groups"]): c for c in d["cross_groups"]}
    assert set(cross) == {("north", "south"), ("north", UNLABELLED), ("south", UNLABELLED)}
    assert all(c["nonmated_pairs"] == 1600 for c in cross.values())
    # The cells add up to every pair of the 120 photos, and the overall FMR is their pooled rate.
    assert d["overall"]["nonmated_pairs"] == 3 * 600 + 3 * 1600 and d["overall"]["mated_pairs"] == 540
    hits = sum(g["fmr_within"] * g["nonmated_pairs_within"] for g in d["groups"].values()) + \
        sum(c["fmr"] * c["nonmated_pairs"] for c in cross.values())
    assert math.isclose(d["overall"]["fmr"], hits / d["overall"]["nonmated_pairs"])
    assert 'id="groups"' in (out / "report.html").read_text()


def test_bad_csv_is_refused_before_any_template(twelve, tmp_path, capsys):
    data, _, _ = twelve
    bad = tmp_path / "bad.csv"
    bad.write_text("s1,north\ns2\n")
    assert main(["-q", "evaluate", "folders", "--data", str(data), "--groups", str(bad), "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 2" in err and "identity,group" in err


def test_read_groups_rules(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Identity,Group\nann,a\nbob, b \n\n")
    assert read_groups(p) == {"ann": "a", "bob": "b"}
    p.write_text("ann,a\nann,b\n")
    with pytest.raises(UsageError, match="already"):
        read_groups(p)
    with pytest.raises(UsageError, match="cannot read"):
        read_groups(tmp_path / "missing.csv")
