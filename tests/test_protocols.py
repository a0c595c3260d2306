"""Dataset protocols read from the real files: CFP's FF / FP splits and its identities."""
import pytest

from conftest import DATA, need
from faceprint.errors import FaceprintError
from faceprint.evaluate.protocols import cfp_identities, cfp_pairs


@pytest.fixture(scope="module")
def cfp():
    return need(DATA / "cfp")


def test_cfp_protocols_have_the_standard_splits(cfp):
    for protocol in ("FF", "FP"):
        pairs = cfp_pairs(cfp, protocol)
        assert len(pairs) == 7000 and sum(p.mated for p in pairs) == 3500
        assert sorted({p.fold for p in pairs}) == list(range(10))
        assert all(p.a.parent.name == "frontal" for p in pairs)
        second = "frontal" if protocol == "FF" else "profile"
        assert all(p.b.parent.name == second and p.b.is_file() for p in pairs)
        # Mated pairs are the same person (folder id), non-mated ones never are.
        assert all((p.a.parent.parent == p.b.parent.parent) == p.mated for p in pairs)
    assert len(cfp_pairs(cfp, "fp", folds=[0])) == 700


def test_cfp_identities_and_bad_input(cfp, tmp_path):
    people = cfp_identities(cfp)
    assert len(people) == 500 and all(len(v) == 14 for v in people.values())
    assert len(cfp_identities(cfp, ("frontal",))["cfp/001"]) == 10
    with pytest.raises(FaceprintError, match="protocol must be one of"):
        cfp_pairs(cfp, "PP")
    with pytest.raises(FaceprintError, match="Pair_list_F.txt not found"):
        cfp_pairs(tmp_path)


def test_cfp_dataset_and_the_evaluate_cfp_command(cfp):
    from faceprint.cli.app import build_parser
    from faceprint.evaluate.datasets import cfp_dataset

    ds = cfp_dataset(cfp, "ff", folds=[0, 1])
    assert ds.name == "CFP-FF" and ds.counts["pairs"] == 1400 and ds.counts["folds"] == 2
    assert all(name.startswith("cfp/") and len(imgs) >= 1 for name, imgs in ds.identities.items())
    args = build_parser().parse_args(["evaluate", "cfp", "--data", str(cfp), "--protocol", "ff", "--folds", "0"])
    assert args.protocol == "FF" and args.folds == [0] and args.func.__name__ == "run_cfp"
