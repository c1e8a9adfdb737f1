from sdmresynth.evaluation.report import DISCUSSION_MARK, claims, paper_row, table_order, write_report
from sdmresynth.evaluation.scores import ModelSummary


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
    write_report(path, [summary("vae-l16", 2.0, 0.9, 0.4)], "sdmresynth score --model vae-l16 --list test.txt")
    text = path.read_text()
    assert "| vae-l16 |" in text and "3.29 / 0.85 / 0.40" in text and text.endswith("Our discussion.\n")
    assert "old table" not in text


def test_vsc_claims_and_table_order():
    models = [summary("vsc-l16-a0.5", 2.0, 0.9, 0.30), summary("vsc-l16-a0.01", 1.8, 0.9, 0.50),
              summary("vsc-l16-a0.2", 1.9, 0.9, 0.40), summary("sdm-vae-dct-l16-k64", 2.1, 0.9, 0.70),
              summary("sdm-vae-log-dct-l16-k64", 3.0, 0.9, 0.99)]
    lines = [line for line in claims({s.name: s for s in models}) if "VSC" in line]
    assert "0.01: 0.500, 0.2: 0.400, 0.5: 0.300" in lines[0] and lines[0].endswith("holds.")
    assert "(sdm-vae-dct-l16-k64)" in lines[1] and lines[1].endswith("holds.")  # not the non-Table-1 model
    reversed_alpha = {s.name: s for s in models[:3]} | {"vsc-l16-a0.5": summary("vsc-l16-a0.5", 2.0, 0.9, 0.60)}
    assert "does not hold" in [line for line in claims(reversed_alpha) if "VSC" in line][0]
    names = ["sdm-vae", "sdm-vae-dct-l64-k64", "vae-l64", "vsc-l16-a0.2", "vsc-l16-a0.01", "vae-l16"]
    assert sorted(names, key=table_order) == ["vae-l16", "vsc-l16-a0.01", "vsc-l16-a0.2", "vae-l64",
                                              "sdm-vae-dct-l64-k64", "sdm-vae"]
