"""``python -m human_study``: build, serve, simulate and analyse 2AFC studies; calibrate the analysis."""

import sys

from ganpaint_core.commands.cli import main

COMMANDS = {
    "build": ("human_study.build", "build a self-contained static study from evaluation pairs"),
    "serve": ("human_study.server", "serve a study locally and record answers to SQLite"),
    "simulate": ("human_study.simulate", "synthetic participants with known preferences"),
    "analyze": ("human_study.analyze", "analyse answers: preferences, CIs, tests, rankings"),
    "calibrate": ("human_study.calibrate", "simulated studies: false-positive rate and power of `analyze`'s tests"),
    "loadtest": ("human_study.loadtest", "many participants at once against `serve`: failures, latency"),
}

if __name__ == "__main__":
    sys.exit(main("python -m human_study", __doc__, COMMANDS))
