#!/usr/bin/env python3
"""Executes a notebook end to end (nbclient, a fresh python3 kernel) and fails on the first
cell that raises. The notebook is read and executed in memory: the committed file keeps its
outputs cleared. With --out the executed copy (outputs and plots) is written there.

usage: run_notebook.py NOTEBOOK.ipynb [--timeout SECONDS_PER_CELL] [--out EXECUTED.ipynb]
Exit status: 0; 1 when a cell fails; 77 (skipped) when nbclient or ipykernel is missing.
"""

import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        print(f"run_notebook.py: {e}: pip install nbclient ipykernel (skipped)", file=sys.stderr)
        return 77
    nb = nbformat.read(a.notebook, as_version=4)
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        print(f"run_notebook.py: {a.notebook}: committed with outputs (clear them)",
              file=sys.stderr)
        return 1
    start = time.monotonic()
    client = NotebookClient(nb, timeout=a.timeout, kernel_name="python3")
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"run_notebook.py: {a.notebook}: a cell failed:\n{e}", file=sys.stderr)
        return 1
    finally:
        if a.out:
            nbformat.write(nb, a.out)
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    print(f"{a.notebook}: {len(nb.cells)} cells executed in {time.monotonic() - start:.1f} s, "
          f"{images} images")
    if images == 0:
        print("run_notebook.py: no plot was shown", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
