"""Reports from an evaluation folder: summary.md, comparison strips, plots and the human-study pairs.

Everything here reads what the runner wrote (``edits.csv``, ``reconstruction.csv``,
``pairs/images/<task_id>/<method>.png``) so a report can be rebuilt at any time.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from eval.measures.way_to_truth import share_of_way_ci
from human_study.pairs import PAIR_COLUMNS

# (column, heading, +1 higher is better / -1 lower is better)
HEADLINE_COLUMNS = (
    ("realism", "realism", 1), ("seam", "seam", -1), ("l1_truth_in", "L1 truth in", -1),
    ("psnr_truth_in", "PSNR truth in", 1), ("edit_success", "edit success", 1), ("label_acc", "label acc.", 1),
)
SANITY_COLUMNS = (
    ("psnr_out", "PSNR out", 1), ("ssim_out", "SSIM out", 1), ("l1_out", "L1 out", -1),
    ("lpips_out", "LPIPS out", -1), ("psnr_band", "PSNR band", 1), ("psnr", "PSNR", 1), ("ssim", "SSIM", 1),
    ("l1", "L1", -1), ("lpips", "LPIPS", -1),
)
EDIT_COLUMNS = HEADLINE_COLUMNS + SANITY_COLUMNS
RECON_COLUMNS = (("psnr", "PSNR", 1), ("ssim", "SSIM", 1), ("l1", "L1", -1), ("lpips", "LPIPS", -1))
DESIGN_POINT = ("ours", "ours_gen", "ours_keep", "ours_refine", "ours_alpha")
BOOTSTRAP_SAMPLES = 2000
# The reference rows of the label-accuracy tables: edits.csv columns scored on every scene task, the unedited photo
# (doing nothing) and the ground-truth edited picture (a perfect edit), each the segmenter's labels vs the truth's.
LABEL_REFERENCES = (("label_acc_photo", "unedited photo (reference)"), ("label_acc_truth", "ground truth (reference)"))
TRUTH = "truth"                      # method_b of the ours-vs-ground-truth pairs (``write_truth_pairs_manifest``)
TRUTH_LABEL = "ground truth (the scene's own edited picture)"


def bootstrap_ci(values, seed: int = 0, level: float = 0.95, samples: int = BOOTSTRAP_SAMPLES):
    """(mean, low, high) of the mean with a percentile bootstrap; NaNs are dropped; all NaN -> NaNs."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan,) * 3
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (samples, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(x.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _fmt(mean: float, lo: float, hi: float) -> str:
    if math.isnan(mean):
        return "n/a"
    digits = 2 if abs(mean) >= 10 else 3
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def ci_table(df: pd.DataFrame, group: str, order: list[str], columns, labels: dict | None = None,
             seed: int = 0) -> str:
    """A markdown table of means with 95% bootstrap CIs per group; the best mean per column in bold."""
    columns = [c for c in columns if c[0] in df.columns]
    stats = {g: {c: bootstrap_ci(df.loc[df[group] == g, c], seed) for c, _, _ in columns} for g in order}
    best = {}
    for c, _, sign in columns:
        means = {g: stats[g][c][0] * sign for g in order if not math.isnan(stats[g][c][0])}
        top = max(means.values(), default=math.nan)
        best[c] = {g for g, v in means.items() if math.isclose(v, top, rel_tol=1e-9, abs_tol=1e-12)}
    head = f"| {group} | n | " + " | ".join(f"{h} {'↑' if s > 0 else '↓'}" for _, h, s in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for g in order:
        cells = []
        for c, _, _ in columns:
            text = _fmt(*stats[g][c])
            cells.append(f"**{text}**" if g in best[c] else text)
        name = (labels or {}).get(g, g)
        lines.append(f"| {name} | {int((df[group] == g).sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(df: pd.DataFrame, column: str, reference: str, order: list[str], key: str = "task_id",
                       seed: int = 0, sign: int = 1) -> str:
    """A markdown table of the reference method's advantage (per-task paired difference) over each other."""
    if column not in df.columns:
        return ""
    wide = df.pivot_table(index=key, columns="method", values=column, aggfunc="first", dropna=False)
    lines = [f"| {reference} vs | n | mean advantage in {column} [95% CI] | {reference} better on |",
             "|---|---|---|---|"]
    for other in order:
        if other == reference or other not in wide or reference not in wide:
            continue
        diff = ((wide[reference] - wide[other]) * sign).dropna()
        mean, lo, hi = bootstrap_ci(diff, seed)
        share = f"{(diff > 0).mean():.0%}" if len(diff) else "n/a"
        lines.append(f"| {other} | {len(diff)} | {_fmt(mean, lo, hi)} | {share} |")
    return "\n".join(lines)


# ---- label accuracy inside the mask and the share of the way to the truth ---------------------------------

def label_groups(edits: pd.DataFrame, by: str) -> list[tuple[str, pd.Series]]:
    """(name, row selector) per action (``by="action"``) or per action and concept (``by="kind"``, e.g.
    "add dome"), sorted, over the tasks that have a label accuracy and both references."""
    if "label_acc" not in edits or not all(c in edits for c, _ in LABEL_REFERENCES):
        return []
    scored = edits["label_acc"].notna() & edits["label_acc_photo"].notna() & edits["label_acc_truth"].notna()
    keys = edits["action"] if by == "action" else edits["action"] + " " + edits["concept"]
    return [(name, scored & (keys == name)) for name in sorted(set(keys[scored]))]


def label_rows(edits: pd.DataFrame, rows: pd.Series, order: list[str], labels: dict, seed: int = 0) -> list[dict]:
    """Per method in ``order`` and then the two reference pictures: name, n, label accuracy (mean, low, high) and
    the share of the way from the unedited photo to the truth (share, low, high), over the tasks ``rows`` picks."""
    part = edits[rows]
    refs = part.drop_duplicates("task_id").set_index("task_id")
    out = []
    for method in order:
        mine = part[part["method"] == method].drop_duplicates("task_id").set_index("task_id")
        if not len(mine):
            continue
        unedited, truth = refs.loc[mine.index, "label_acc_photo"], refs.loc[mine.index, "label_acc_truth"]
        out.append({"name": labels.get(method, method), "n": len(mine),
                    "acc": bootstrap_ci(mine["label_acc"], seed),
                    "share": share_of_way_ci(mine["label_acc"], unedited, truth, seed)})
    for column, name in LABEL_REFERENCES:
        values = refs[column]
        out.append({"name": name, "n": len(refs), "acc": bootstrap_ci(values, seed),
                    "share": share_of_way_ci(values, refs["label_acc_photo"], refs["label_acc_truth"], seed)})
    return out


def label_table(edits: pd.DataFrame, by: str, order: list[str], labels: dict, seed: int = 0,
                values: tuple[str, ...] = ("acc", "share")) -> str:
    """A markdown table, one row per method and reference picture, one column per group (``label_groups``) and
    value: label accuracy inside the mask (``acc``) and the share of the way to the truth (``share``), with 95%
    bootstrap intervals; "" when the run has no label accuracies."""
    groups = label_groups(edits, by)
    if not groups:
        return ""
    heading = {"acc": "label acc. ↑", "share": "share of the way ↑"}
    table = {name: label_rows(edits, rows, order, labels, seed) for name, rows in groups}
    n = {name: edits.loc[rows, "task_id"].nunique() for name, rows in groups}
    head = "| method | " + " | ".join(f"{name} ({n[name]}): {heading[v]}" for name, _ in groups for v in values) + " |"
    lines = [head, "|---" * (1 + len(groups) * len(values)) + "|"]
    for first in table[groups[0][0]]:
        cells = []
        for name, _ in groups:
            row = next((r for r in table[name] if r["name"] == first["name"]), None)
            cells += [_fmt(*row[v]) if row else "n/a" for v in values]
        lines.append(f"| {first['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def label_headline(edits: pd.DataFrame, labels: dict, reference: str, seed: int = 0) -> str:
    """One sentence: the reference method's label accuracy per action beside the unedited photo's and the
    truth's, and the share of the way it closes; "" without label accuracies."""
    parts = []
    for action, rows in label_groups(edits, "action"):
        found = {r["name"]: r for r in label_rows(edits, rows, [reference], labels, seed)}
        ours = found.get(labels.get(reference, reference))
        if ours is None:
            continue
        unedited, truth = (found[name]["acc"][0] for _, name in LABEL_REFERENCES)
        parts.append(f"{action} {_fmt(*ours['acc'])} (unedited photo {unedited:.3f}, ground truth {truth:.3f}; "
                     f"share of the way {_fmt(*ours['share'])})")
    if not parts:
        return ""
    return ("Label accuracy inside the mask (the segmenter's labels of the edited picture against the ground "
            "truth's; a perfect edit scores the ground truth's, doing nothing the unedited photo's), "
            f"{labels.get(reference, reference)}: {'; '.join(parts)}.")


# ---- pictures -------------------------------------------------------------------------------------------

def _labelled(img: np.ndarray, text: str, height: int) -> Image.Image:
    """The picture scaled to ``height`` with its aspect kept (a photo as the person sees it), under a label."""
    width = max(1, round(img.shape[1] * height / img.shape[0]))
    tile = Image.fromarray(img).resize((width, height), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (width, height + 14), "white")
    canvas.paste(tile, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), text[: width // 6], fill="black")
    return canvas


def mask_overlay(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo dimmed outside the mask, with the mask tinted red."""
    out = photo.astype(np.float64) * 0.45
    out[mask] = photo[mask] * 0.5 + np.array([255, 40, 40]) * 0.5
    return out.astype(np.uint8)


def strip(pictures: list[tuple[str, np.ndarray]], height: int = 128) -> np.ndarray:
    """One row of labelled pictures, each ``height`` px high at its own aspect."""
    tiles = [_labelled(img, text, height) for text, img in pictures]
    canvas = Image.new("RGB", (sum(t.width + 2 for t in tiles), height + 14), "white")
    left = 0
    for tile in tiles:
        canvas.paste(tile, (left, 0))
        left += tile.width + 2
    return np.asarray(canvas)


def _read(path: Path) -> np.ndarray | None:
    return np.asarray(Image.open(path).convert("RGB")) if path.is_file() else None


def write_strips(out: Path, edits: pd.DataFrame, order: list[str], labels: dict, truth_dir: Path,
                 overview_rows: int = 8) -> list[Path]:
    """``strips/<task_id>.png`` (photo, mask, truth if any, each method) and ``strips/overview.png``."""
    folder = out / "strips"
    folder.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for task_id, group in edits.groupby("task_id", sort=True):
        images = out / "pairs" / "images" / str(task_id)
        photo, mask = _read(images / "original.png"), _read(images / "mask.png")
        if photo is None or mask is None:
            continue
        first = group.iloc[0]
        title = f"{first['action']} {first['concept']}"
        pictures = [("photo", photo), (title, mask_overlay(photo, mask[..., 0] > 127))]
        truth = _read(truth_dir / f"{task_id}.png")
        if truth is not None:
            pictures.append(("ground truth", truth))
        pictures += [(labels.get(m, m), img) for m in order if (img := _read(images / f"{m}.png")) is not None]
        row = strip(pictures, height=max(128, photo.shape[0]))
        Image.fromarray(row).save(folder / f"{task_id}.png")
        written.append(folder / f"{task_id}.png")
        if len(rows) < overview_rows:
            rows.append(row)
    if rows:
        width = max(r.shape[1] for r in rows)
        padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        Image.fromarray(np.concatenate(padded)).save(folder / "overview.png")
    return written


def _bar_grid(df: pd.DataFrame, group: str, order: list[str], columns, labels: dict, title: str, path: Path,
              seed: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in columns if c[0] in df.columns and df[c[0]].notna().any()]
    if not columns:
        return
    cols = min(3, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.35 * len(order) * rows + 1.2 * rows), squeeze=False)
    for ax, (c, heading, sign) in zip(axes.flat, columns, strict=False):
        stats = [bootstrap_ci(df.loc[df[group] == g, c], seed) for g in order]
        means = np.array([s[0] for s in stats])
        err = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]])
        colors = ["tab:red" if g == order[0] else "tab:gray" for g in order]
        y = np.arange(len(order))
        ax.barh(y, np.nan_to_num(means), xerr=np.nan_to_num(err), color=colors, capsize=2)
        ax.set_yticks(y, [labels.get(g, g) for g in order], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{heading} ({'higher' if sign > 0 else 'lower'} is better)", fontsize=9)
        finite = means[np.isfinite(means)]
        if c.startswith("psnr") and finite.size:
            ax.set_xlim(max(0, finite.min() - 5), (means + np.nan_to_num(err[1]))[np.isfinite(means)].max() + 1)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(out: Path, edits: pd.DataFrame, recon: pd.DataFrame, order: list[str], stages: list[str],
                labels: dict, seed: int = 0) -> None:
    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    if len(edits):
        _bar_grid(edits, "method", order, EDIT_COLUMNS, labels, "Edits: mean and 95% bootstrap CI per method",
                  folder / "edits.png", seed)
    if len(recon):
        _bar_grid(recon, "stage", stages, RECON_COLUMNS, {}, "Reconstruction of the photo per inversion stage",
                  folder / "reconstruction.png", seed)


def write_pairs_manifest(out: Path, edits: pd.DataFrame, order: list[str], reference: str = "ours") -> int:
    """``pairs/manifest.csv``: one row per task and baseline, ``reference`` always as method_a."""
    folder = out / "pairs"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    tasks = edits.drop_duplicates("task_id").sort_values("task_id")
    for _, task in tasks.iterrows():
        tid = str(task["task_id"])
        images = folder / "images" / tid
        if not (images / f"{reference}.png").is_file() or not (images / "original.png").is_file():
            continue
        for other in order:
            if other == reference or not (images / f"{other}.png").is_file():
                continue
            rows.append({"pair_id": f"{tid}__{reference}_vs_{other}", "task_id": tid, "action": task["action"],
                         "concept": task["concept"], "method_a": reference, "method_b": other,
                         "image_a": f"images/{tid}/{reference}.png", "image_b": f"images/{tid}/{other}.png",
                         "original": f"images/{tid}/original.png", "mask": f"images/{tid}/mask.png"})
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PAIR_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def write_truth_pairs_manifest(out: Path, edits: pd.DataFrame, reference: str = "ours") -> int:
    """``truth_pairs/manifest.csv``: one pair per scene task, ``reference`` against the ground-truth edited picture
    (``OUT/truth/<task_id>.png``), in the layout of the human-study pairs (paths relative to the folder, pointing
    at the run's own pictures), so the machine judge, or ``human_study build``, can answer it on its own; nothing
    is written when no task has a ground truth."""
    folder = out / "truth_pairs"
    rows = []
    for _, task in edits.drop_duplicates("task_id").sort_values("task_id").iterrows():
        tid = str(task["task_id"])
        images = out / "pairs" / "images" / tid
        if not all(p.is_file() for p in (images / f"{reference}.png", images / "original.png",
                                          out / "truth" / f"{tid}.png")):
            continue
        rows.append({"pair_id": f"{tid}__{reference}_vs_{TRUTH}", "task_id": tid, "action": task["action"],
                     "concept": task["concept"], "method_a": reference, "method_b": TRUTH,
                     "image_a": f"../pairs/images/{tid}/{reference}.png", "image_b": f"../truth/{tid}.png",
                     "original": f"../pairs/images/{tid}/original.png", "mask": f"../pairs/images/{tid}/mask.png"})
    if not rows:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PAIR_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _judge_rows(judged: dict | None) -> pd.DataFrame | None:
    if judged is None:
        return None
    table = judged["baselines"]
    return table[table["exclusion"] == "none"].set_index("baseline")


def headlines(edits: pd.DataFrame, recon: pd.DataFrame, order: list[str], labels: dict, reference: str,
              recon_stages: tuple[str, str] | None = None, kid: pd.DataFrame | None = None,
              judged: dict | None = None, judged_truth: dict | None = None, seed: int = 0) -> list[str]:
    """Plain sentences, ours against the compositing baselines and plain G (not its own variants): label accuracy
    against the ground truth, realism, KID, seams, ground-truth error, the machine judge (against the baselines and
    against the ground truth itself), then reconstruction."""
    lines = [line] if (line := label_headline(edits, labels, reference, seed)) else []
    others = [m for m in order if m != reference and m not in DESIGN_POINT]
    for column, what, sign in (("realism", "realism score", 1), ("seam", "seam score", -1),
                               ("l1_truth_in", "L1 error against the ground truth inside the dilated mask", -1)):
        if column not in edits or not edits[column].notna().any():
            continue
        means = edits.groupby("method")[column].mean()
        if reference not in means:
            continue
        better = [f"{labels.get(m, m)} ({means[m]:.3g})" for m in others if m in means
                  and (means[reference] - means[m]) * sign > 0]
        worse = [f"{labels.get(m, m)} ({means[m]:.3g})" for m in others if m in means
                 and (means[reference] - means[m]) * sign <= 0]
        lines.append(f"{what[0].upper() + what[1:]} of {labels.get(reference, reference)}: {means[reference]:.3g} "
                     f"({'higher' if sign > 0 else 'lower'} is better); better than {', '.join(better) or 'none'}; "
                     f"not better than {', '.join(worse) or 'none'}.")
    if kid is not None and len(kid) and kid["kid"].notna().any():
        k = kid.set_index("method")["kid"] * 1000
        if reference in k:
            lower = [f"{labels.get(m, m)} ({k[m]:.2f})" for m in others if m in k and k[m] < k[reference]]
            lines.append(f"KID x 1000 against held-out real scenes: {labels.get(reference, reference)} "
                         f"{k[reference]:.2f} (the unedited photos {k.get('photo', float('nan')):.2f}); lower than "
                         f"ours: {', '.join(lower) or 'none'}.")
    rows = _judge_rows(judged)
    if rows is not None and len(rows):
        parts = [f"{labels.get(b, b)} {r.share:.2f} [{r.wilson_low:.2f}, {r.wilson_high:.2f}]"
                 for b, r in rows.iterrows() if b in others]
        lines.append("Machine judge (the realism model answering the 2AFC study; not people), share of pairs where "
                     f"ours is judged more real: {', '.join(parts)}.")
    truth = _judge_rows(judged_truth)
    if truth is not None and TRUTH in truth.index:
        r = truth.loc[TRUTH]
        actions = judged_truth.get("actions")
        if actions is not None:
            actions = actions[(actions["exclusion"] == "none") & (actions["baseline"] == TRUTH)]
        split = "" if actions is None else ", ".join(f"{a.action} {a.share:.2f} of {int(a.n)}"
                                                     for a in actions.itertuples())
        lines.append(f"Machine judge, {labels.get(reference, reference)} against the ground-truth edit itself: "
                     f"judged more real in {r.share:.2f} [{r.wilson_low:.2f}, {r.wilson_high:.2f}] of "
                     f"{int(r.n)} scene tasks" + (f" ({split})" if split else "")
                     + " (0.5: indistinguishable from the truth).")
    if "truth_success" in edits and edits["truth_success"].notna().any() and reference in set(edits["method"]):
        ours = edits[(edits["method"] == reference) & edits["truth_success"].notna()]
        parts = [f"{action} {part['edit_success'].mean():.2f} against {part['truth_success'].mean():.2f}"
                 for action, part in ours.groupby("action", sort=True)]
        lines.append(f"Edit success of {labels.get(reference, reference)} against the ground-truth edits' own on the "
                     f"same masks (the measure's ceiling): {', '.join(parts)}.")
    if recon_stages and len(recon):
        means = recon.groupby("stage")["psnr"].mean()
        ours, plain = recon_stages
        if ours in means and plain in means:
            lines.append(f"Reconstruction PSNR: {ours} {means[ours]:.2f} dB vs {plain} {means[plain]:.2f} dB "
                         f"({means[ours] - means[plain]:+.2f} dB).")
    return lines


def kid_table(kid: pd.DataFrame, order: list[str], labels: dict) -> str:
    """A markdown table of KID x 1000 (mean and standard deviation over subsets) per method."""
    lines = ["| method | pictures | KID x 1000 ↓ | std over subsets |", "|---|---|---|---|"]
    frame = kid.set_index("method")
    for name in [*order, "photo"]:
        if name in frame.index:
            r = frame.loc[name]
            label = "unedited photos (reference)" if name == "photo" else labels.get(name, name)
            lines.append(f"| {label} | {int(r['n'])} | {r['kid'] * 1000:.2f} | {r['kid_std'] * 1000:.2f} |")
    return "\n".join(lines)


def judge_table(judged: dict | None, order: list[str], labels: dict, judged_truth: dict | None = None) -> str:
    """A markdown table of the machine judge's preference for ours per other method (all answers kept), then,
    from its own study of the ours-vs-truth pairs, against the ground-truth edit itself (0.5: indistinguishable)."""
    lines = ["| ours vs | pairs | share judged more real: ours | 95% Wilson CI | two-level bootstrap CI | p (Holm) |",
             "|---|---|---|---|---|---|"]
    found = [(labels.get(name, name), rows.loc[name]) for rows in [_judge_rows(judged)] if rows is not None
             for name in order if name in rows.index]
    truth = _judge_rows(judged_truth)
    if truth is not None and TRUTH in truth.index:
        found.append((TRUTH_LABEL, truth.loc[TRUTH]))
    for name, r in found:
        lines.append(f"| {name} | {int(r['n'])} | {r['share']:.3f} | [{r['wilson_low']:.3f}, {r['wilson_high']:.3f}] "
                     f"| [{r['boot_low']:.3f}, {r['boot_high']:.3f}] | {r['p_holm']:.2g} |")
    return "\n".join(lines)


def write_summary(out: Path, edits: pd.DataFrame, recon: pd.DataFrame, order: list[str], stages: list[str],
                  labels: dict, notes: list[str], failures: list[dict], seed: int = 0,
                  reference: str = "ours", recon_stages: tuple[str, str] | None = None,
                  kid: pd.DataFrame | None = None, judged: dict | None = None,
                  judged_truth: dict | None = None) -> Path:
    """``summary.md``: means with 95% bootstrap CIs (best per column in bold), paired advantages, notes."""
    lines = ["# Evaluation summary", ""]
    lines += [f"- {note}" for note in notes]
    found = headlines(edits, recon, order, labels, reference, recon_stages, kid, judged, judged_truth, seed)
    if found:
        lines += ["", "**Headline.**", ""] + [f"- {line}" for line in found]
    lines += ["", "Means over tasks with 95% percentile-bootstrap confidence intervals "
              f"({BOOTSTRAP_SAMPLES} resamples); the best mean of each column is **bold**. "
              "`out` columns compare with the photo outside the dilated mask (where nothing should change); "
              "*band* is the ring between the mask and its dilation, where seams show; "
              "the whole-image columns compare with the ground-truth edit where there is one (scene world), "
              "else with the photo. *edit success* is the segmenter's share of the concept inside the mask "
              "for `add` and one minus it for `remove`; *label acc.* is the segmenter's agreement with the "
              "ground-truth labels inside the mask (scene world only). *realism*: the realism model's score of the "
              "picture (eval/measures/realism.py; higher is more like held-out real scenes); *seam*: mean excess "
              "gradient magnitude over the photo's across the boundary of the shared region (eval/measures/seams.py); "
              "*truth in*: against the ground-truth edit inside the mask dilated by the margin.", ""]
    by_action = label_table(edits, "action", order, labels, seed) if len(edits) else ""
    if by_action:
        lines += ["## Label accuracy inside the mask against the ground truth (headline)", "",
                  "The segmenter's labels of each picture against the ground-truth edit's labels inside the mask, "
                  "every method and the two reference pictures scored the same way: the *unedited photo* (what doing "
                  "nothing scores) and the *ground truth*'s own edited picture (what a perfect edit scores). "
                  "*Share of the way*: (acc − acc of the unedited photo) / (acc of the truth − acc of the unedited "
                  "photo), a ratio of means over the same tasks (eval/measures/way_to_truth.py): doing nothing scores "
                  "0, the truth 1, below 0 moves the labels away from the truth. 95% percentile-bootstrap intervals "
                  "over tasks (paired for the share).", "", by_action, "", "Per task kind:", "",
                  label_table(edits, "kind", order, labels, seed, values=("acc",)), "",
                  label_table(edits, "kind", order, labels, seed, values=("share",)), ""]
    if len(edits):
        lines += ["## Edits: realism, seams, ground truth", "",
                  ci_table(edits, "method", order, HEADLINE_COLUMNS, labels, seed), ""]
        if kid is not None and len(kid):
            lines += ["## KID against held-out real scenes", "",
                      "The realism model's features (the shipped discriminator's patches, eval/measures/realism.py); "
                      "mean and standard deviation over random subsets of pictures and patches, the same subsets for "
                      "every method.", "", kid_table(kid, order, labels), ""]
        if judged is not None or judged_truth is not None:
            catch = ", ".join(f"{what} {j['workers']['catch_accuracy'].mean():.2f}"
                              for what, j in (("baselines", judged), ("ground truth", judged_truth)) if j is not None)
            lines += ["## Machine judge (not people)", "",
                      "`python -m human_study build` on this run's pairs, every trial answered by the realism "
                      "model (`human_study/judge.py`, noise 0, one pass per session), analysed by "
                      "`human_study analyze` (all answers; the judge is not excluded by catch trials). "
                      "The ground-truth row is its own study of the ours-vs-truth pairs of the scene tasks "
                      "(`truth_pairs/`, answered into `machine_judge_truth/`; 0.5: indistinguishable from the "
                      "truth); those pairs are not in the human-study pairs. Catch-trial accuracy (unedited photo "
                      f"vs. broken composite): {catch}. Reports: `machine_judge/report/`, "
                      "`machine_judge_truth/report/`.", "",
                      judge_table(judged, order, labels, judged_truth), ""]
        lines += ["## Sanity: fidelity outside the mask and whole-image error", "",
                  "Every method pastes the same region, so outside it every method should be near-lossless.", "",
                  ci_table(edits, "method", order, SANITY_COLUMNS, labels, seed), ""]
        for action, part in edits.groupby("action", sort=True):
            cols = [c for c in EDIT_COLUMNS if c[0] in ("realism", "seam", "l1_truth_in", "edit_success", "label_acc")]
            lines += [f"### {action} ({part['task_id'].nunique()} tasks)", "",
                      ci_table(part, "method", order, cols, labels, seed), ""]
        design = [m for m in DESIGN_POINT if m in order and m in set(edits["method"])]
        if len(design) > 1:
            cols = [c for c in EDIT_COLUMNS if c[0] in ("realism", "seam", "l1_truth_in", "psnr_out", "edit_success",
                                                        "label_acc")]
            lines += ["## Design point: the perturbations inside the edited region", "",
                      "G' pasted back into the photo over the feathered mask by a multiband blend (ours, the "
                      "editor's output) or by the feathered alpha itself (feathered paste-back), "
                      "G' alone with the perturbations cleared at edit time (free), kept, or cleared then "
                      "re-fitted outside the edit (refine). "
                      "Median render seconds: " + ", ".join(
                          f"{labels.get(m, m)} {edits.loc[edits['method'] == m, 'seconds'].median():.2f}"
                          for m in design if "seconds" in edits) + ".", "",
                      ci_table(edits, "method", design, cols, labels, seed), ""]
        lines += ["## Paired advantage of ours (per task)", "",
                  paired_differences(edits, "realism", reference, order, seed=seed), "",
                  paired_differences(edits, "seam", reference, order, seed=seed, sign=-1), "",
                  paired_differences(edits, "l1_truth_in", reference, order, seed=seed, sign=-1), "",
                  paired_differences(edits, "edit_success", reference, order, seed=seed), ""]
    if len(recon):
        lines += ["## Reconstruction of the photo", "", ci_table(recon, "stage", stages, RECON_COLUMNS, None, seed), ""]
    if failures:
        lines += [f"## Skipped ({len(failures)})", "", "| item | reason |", "|---|---|"]
        lines += [f"| {f['item']} | {str(f['error']).replace('|', '/')} |" for f in failures]
        lines.append("")
    lines += ["## Pictures", "", "![edits](plots/edits.png)", "", "![reconstruction](plots/reconstruction.png)", "",
              "![examples](strips/overview.png)", "", "One strip per task in `strips/`; pairs for the human study "
              "in `pairs/manifest.csv`.", ""]
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path
