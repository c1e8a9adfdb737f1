"""docs/results.md: our Table 1 beside the paper's, with the paper's claims checked on our numbers."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

from ..dsp.metrics import METRIC_NAMES
from ..io.atomic import write_atomically
from ..io.shipped import read_index
from .scores import ModelSummary

# The paper's Table 1 (TCD-TIMIT): (PESQ, STOI, Hoyer) at L = 16 and L = 64. Its PESQ is narrow-band P.862
# (pypesq) and its STOI the extended variant, per the official code.
PAPER_TABLE = {
    "vae": {16: (3.29, 0.85, 0.40), 64: (3.26, 0.85, 0.56)},
    "vsc-a0.01": {16: (3.00, 0.81, 0.57), 64: (3.25, 0.84, 0.51)},
    "vsc-a0.2": {16: (3.25, 0.84, 0.54), 64: (3.32, 0.85, 0.65)},
    "vsc-a0.5": {16: (3.25, 0.84, 0.47), 64: (3.26, 0.85, 0.60)},
    "sdm-vae-identity": {16: (3.33, 0.86, 0.64), 64: (3.45, 0.87, 0.73)},
    "sdm-vae-dct-k=l": {16: (3.37, 0.86, 0.66), 64: (3.28, 0.84, 0.66)},
    "sdm-vae-dct-k=4l": {16: (3.32, 0.86, 0.87), 64: (3.33, 0.86, 0.76)},
}
DISCUSSION_MARK = "<!-- discussion: kept when the report is regenerated -->"


TABLE1_NAME = re.compile(r"(vae|vsc|sdm-vae-identity|sdm-vae-dct|sdm-vae-learned)-l(\d+)(?:-k(\d+))?(?:-a([\d.]+))?")
FAMILY_ORDER = ["vae", "vsc", "sdm-vae-identity", "sdm-vae-dct", "sdm-vae-learned"]


def paper_row(name: str) -> tuple[str, int, tuple[float, float, float]] | None:
    """The paper's row for a shipped model name such as sdm-vae-dct-l64-k256, if the paper has one."""
    match = TABLE1_NAME.fullmatch(name)
    if not match:
        return None
    family, latent, atoms, alpha = match.group(1), int(match.group(2)), match.group(3), match.group(4)
    key = family
    if family == "sdm-vae-dct" and atoms:
        key = "sdm-vae-dct-k=l" if int(atoms) == latent else "sdm-vae-dct-k=4l" if int(atoms) == 4 * latent else ""
    if family == "vsc" and alpha:
        key = f"vsc-a{alpha}"
    values = PAPER_TABLE.get(key, {}).get(latent)
    return (key, latent, values) if values else None


def table_order(name: str) -> tuple:
    """Table 1's order: by L, then VAE, VSC, SDM-VAE identity, DCT, learned, then by K or alpha; other models last."""
    match = TABLE1_NAME.fullmatch(name)
    if not match:
        return (1, 0, 0, 0.0, name)
    family, latent, atoms, alpha = match.groups()
    return (0, int(latent), FAMILY_ORDER.index(family), float(atoms or alpha or 0), name)


def _table1(summaries: dict[str, ModelSummary], family: str, latent: int) -> dict[str, ModelSummary]:
    """The Table-1 models of one family (a TABLE1_NAME prefix such as "sdm-vae" or "vsc") at one L."""
    return {n: s for n, s in summaries.items() if (m := TABLE1_NAME.fullmatch(n)) and m.group(1).startswith(family)
            and int(m.group(2)) == latent}


def _cell(summary: ModelSummary, metric: str) -> str:
    mean = summary.mean[metric]
    return "-" if math.isnan(mean) else f"{mean:.2f}"


def claims(summaries: dict[str, ModelSummary]) -> list[str]:
    """The paper's claims, each checked on the models present."""
    lines = []
    for latent in (16, 64):
        vae = summaries.get(f"vae-l{latent}")
        sdms = _table1(summaries, "sdm-vae", latent)
        if vae and sdms:
            def as_good(s: ModelSummary) -> bool:
                return s.mean["pesq_wb"] >= vae.mean["pesq_wb"] and s.mean["stoi"] >= vae.mean["stoi"]

            # the sparsest SDM-VAE among those at least as good as the VAE (else the sparsest of all)
            pool = [s for s in sdms.values() if as_good(s)] or list(sdms.values())
            best = max(pool, key=lambda s: s.mean["hoyer"])
            gain = best.mean["hoyer"] - vae.mean["hoyer"]
            verdict = "holds" if gain >= 0.15 and as_good(best) else "does not hold"
            lines.append(f"- L = {latent}: the sparsest SDM-VAE at least as good as the VAE in PESQ-WB and STOI, or "
                         f"else the sparsest ({best.name}), has Hoyer {best.mean['hoyer']:.2f} vs "
                         f"{vae.mean['hoyer']:.2f} for the VAE (+{gain:.2f}), PESQ-WB {best.mean['pesq_wb']:.2f} vs "
                         f"{vae.mean['pesq_wb']:.2f}, STOI {best.mean['stoi']:.3f} vs {vae.mean['stoi']:.3f}: "
                         f"'sparser at equal or better quality' {verdict}.")
        else:
            lines.append(f"- L = {latent}: not checked (needs vae-l{latent} and an SDM-VAE at L = {latent}).")
    for latent, small, large in ((16, 16, 64), (64, 64, 256)):
        a, b = summaries.get(f"sdm-vae-dct-l{latent}-k{small}"), summaries.get(f"sdm-vae-dct-l{latent}-k{large}")
        if a and b:
            verdict = "holds" if b.mean["hoyer"] > a.mean["hoyer"] else "does not hold"
            lines.append(f"- More atoms, more sparsity at L = {latent}: K = {small} Hoyer {a.mean['hoyer']:.2f}, "
                         f"K = {large} Hoyer {b.mean['hoyer']:.2f}: {verdict}.")
    for latent in (16, 64):
        lines.extend(_vsc_claims(summaries, latent))
    return lines


def _vsc_claims(summaries: dict[str, ModelSummary], latent: int) -> list[str]:
    """VSC: lower alpha gives sparser codes; and the sparsest SDM-VAE against the sparsest VSC at the same L."""
    vscs = sorted(_table1(summaries, "vsc", latent).values(), key=lambda s: table_order(s.name))
    if not vscs:
        return []
    lines = []
    if len(vscs) > 1:
        hoyers = [s.mean["hoyer"] for s in vscs]  # alpha ascending
        verdict = "holds" if all(a > b for a, b in zip(hoyers, hoyers[1:])) else "does not hold"
        steps = ", ".join(f"{s.name.rsplit('-a', 1)[1]}: {s.mean['hoyer']:.3f}" for s in vscs)
        lines.append(f"- VSC at L = {latent}, lower alpha gives sparser codes (Hoyer by alpha {steps}): {verdict}.")
    sdms = _table1(summaries, "sdm-vae", latent)
    if sdms:
        sdm = max(sdms.values(), key=lambda s: s.mean["hoyer"])
        vsc = max(vscs, key=lambda s: s.mean["hoyer"])
        better = sdm.mean["hoyer"] > vsc.mean["hoyer"] and sdm.mean["pesq_wb"] >= vsc.mean["pesq_wb"]
        lines.append(f"- SDM-VAE vs VSC at L = {latent}: the sparsest SDM-VAE ({sdm.name}) has Hoyer "
                     f"{sdm.mean['hoyer']:.2f} and PESQ-WB {sdm.mean['pesq_wb']:.2f}, the sparsest VSC ({vsc.name}) "
                     f"{vsc.mean['hoyer']:.2f} and {vsc.mean['pesq_wb']:.2f}: 'SDM-VAE sparser at equal or better "
                     f"quality than VSC' {'holds' if better else 'does not hold'}.")
    return lines


def write_report(path: Path, summaries: list[ModelSummary], command: str) -> None:
    """Write the results page, saying it was made by `command`; a discussion below DISCUSSION_MARK in an existing
    file is kept."""
    by_name = {s.name: s for s in summaries}
    index = read_index()["models"]
    header = "| model | L | K | " + " | ".join(f"`{m}`" for m in METRIC_NAMES) + " | files | paper PESQ / STOI / Hoyer |"
    rows = [header, "| --- | --- | --- |" + " --- |" * len(METRIC_NAMES) + " --- | --- |"]
    for s in sorted(summaries, key=lambda s: table_order(s.name)):
        info = index.get(s.name, {})
        paper = paper_row(s.name)
        paper_cell = f"{paper[2][0]:.2f} / {paper[2][1]:.2f} / {paper[2][2]:.2f}" if paper else "-"
        latent, atoms = s.latent_dim or info.get("latent_dim", "?"), s.atoms or info.get("atoms", "?")
        rows.append(f"| {s.name} | {latent} | {atoms} | "
                    + " | ".join(_cell(s, m) for m in METRIC_NAMES) + f" | {s.files} ({s.failed} failed) | {paper_cell} |")
    write_keeping_discussion(path, [
        "# Results: Table 1 on our data",
        "",
        f"Regenerated by `{command}` on "
        f"{date.today().isoformat()}. Means over files of the peak-normalised 16 kHz input vs its resynthesis "
        "(input phase). The paper's numbers are on TCD-TIMIT, and its PESQ is narrow-band P.862 (compare with "
        "`pesq_nb`), its STOI the extended variant (compare with `estoi`).",
        "",
        *rows,
        "",
        "## The paper's claims, checked on these numbers",
        "",
        *claims(by_name),
        "",
    ])


def write_keeping_discussion(path: Path, lines: list[str]) -> None:
    """Write a generated page's lines, then DISCUSSION_MARK and the discussion an existing file has below it."""
    discussion = ""
    if path.is_file() and DISCUSSION_MARK in path.read_text(encoding="utf-8"):
        discussion = path.read_text(encoding="utf-8").split(DISCUSSION_MARK, 1)[1]
    text = "\n".join([*lines, DISCUSSION_MARK]) + (discussion or "\n")
    write_atomically(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
