"""Import this first, before torch, in a program whose fits and edits run side by side (the demo).

On import: OpenMP waits passively (``ganpaint_core.cpu.prepare_openmp``; ``GANPAINT_OMP_WAIT``,
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` override it) and torch takes ``$GANPAINT_THREADS`` threads
(default: torch's, one per core).  Measured in docs/speed.md, "Sharing the machine".
"""

from ganpaint_core.cpu import prepare_openmp, set_threads

OPENMP = prepare_openmp("passive")
THREADS = set_threads()
