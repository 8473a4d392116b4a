"""Where PyTensor keeps the Python source it generates for Numba.

PyTensor writes the source of each function it compiles with Numba (a model's log
density, its random draws for predictive checks) to a file, which Numba reads back for
type inference and tracebacks. Told no folder, it writes a new file in the system's
temporary folder for every compile and never removes one: this project's test runs left
129,000 such files of about 400 bytes in /tmp in two days, and every ``watch`` cycle,
k-fold refit process and predictive check adds more. Given a folder, PyTensor names
each file by the hash of its content (written atomically, so processes share them) and
at exit removes those unused for over a month. Radonspec gives it one beside PyTensor's
own compile cache, unless the user chose one (``PYTENSOR_FLAGS``, ``.pytensorrc``).
"""

from __future__ import annotations

from pathlib import Path

#: The folder inside PyTensor's ``compiledir`` that radonspec gives it.
FOLDER = "generated-src"


def install() -> None:
    """Keep PyTensor's generated source in its compile cache, in this process, from now on."""
    import pytensor

    if not pytensor.config.generated_src_dir:  # else the user's choice stands
        pytensor.config.generated_src_dir = str(Path(pytensor.config.compiledir) / FOLDER)
