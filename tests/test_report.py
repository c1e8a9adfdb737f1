from sdmresynth.report import DISCUSSION_MARK, claims, paper_row, write_report
from sdmresynth.scoring import ModelSummary


def summary(name, pesq_wb, stoi, hoyer):
    mean = {"pesq_wb": pesq_wb, "pesq_nb": 3.0, "stoi": stoi, "estoi": 0.8, "si_sdr": 5.0, "hoyer": hoyer}
    return ModelSummary(name, 10, 0, mean, {k: 0.01 for k in mean}, [])


def test_paper_rows_are_found_by_name():
    assert paper_row("vae-l16")[2] == (3.29, 0.85, 0.40)
    assert paper_row("sdm-vae-dct-l64-k256")[0] == "sdm-vae-dct-k=4l"
    assert paper_row("sdm-vae-dct-l16-k16")[2] == (3.37, 0.86, 0.66)
    assert paper_row("vsc-l64-a0.2")[2] == (3.32, 0.85, 0.65)
    assert paper_row("sdm-vae-learned-l64-k256") is None and paper_row("my-model") is None


def test_claims_are_checked_both_ways():
    good = {s.name: s for s in [summary("vae-l64", 2.0, 0.90, 0.40), summary("sdm-vae-dct-l64-k64", 2.1, 0.91, 0.60),
                                summary("sdm-vae-dct-l64-k256", 2.0, 0.90, 0.70)]}
    lines = claims(good)
    assert "holds" in lines[1] and "sdm-vae-dct-l64-k256" in lines[1] and "does not" not in lines[1]
    assert "More atoms" in lines[2] and lines[2].endswith("holds.")
    worse = dict(good, **{"sdm-vae-dct-l64-k256": summary("sdm-vae-dct-l64-k256", 1.5, 0.90, 0.70)})
    assert "(sdm-vae-dct-l64-k64)" in claims(worse)[1] and "does not" not in claims(worse)[1]
    none_as_good = {n: s for n, s in worse.items() if n != "sdm-vae-dct-l64-k64"}
    assert "does not hold" in claims(none_as_good)[1]
    too_dense = dict(good, **{"sdm-vae-dct-l64-k256": summary("sdm-vae-dct-l64-k256", 2.0, 0.90, 0.50),
                             "sdm-vae-dct-l64-k64": summary("sdm-vae-dct-l64-k64", 2.0, 0.90, 0.45)})
    assert "does not hold" in claims(too_dense)[1]
    assert "not checked" in claims(good)[0]


def test_report_keeps_the_discussion(tmp_path):
    path = tmp_path / "results.md"
    path.write_text(f"old table\n{DISCUSSION_MARK}\nOur discussion.\n")
    write_report(path, [summary("vae-l16", 2.0, 0.9, 0.4)], "test.txt")
    text = path.read_text()
    assert "| vae-l16 |" in text and "3.29 / 0.85 / 0.40" in text and text.endswith("Our discussion.\n")
    assert "old table" not in text
