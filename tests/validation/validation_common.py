"""Helpers the validation scripts share: CSV rows and relative differences."""
import csv


def read_rows(path):
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rel(a, b):
    """|a - b| / |b| (b = 0 counts as 1e-300), of numbers or numeric strings."""
    a, b = float(a), float(b)
    return abs(a - b) / max(abs(b), 1e-300)
