"""Load reaqtions data into pandas.

Either from a CSV report:
    reaqtions report --local --format csv --output readings.csv
    python examples/pandas_report.py readings.csv

or straight from the objects Firehose wrote (NDJSON, one reading per line; gzip or plain, told apart by their
first bytes, as a lake may hold both):
    python examples/pandas_report.py .reaqtions/lake/reaqtions-iot-data-lake-raw/processed

A window of time is a filter on `_reading_time`, when the air was measured (RFC 3339, UTC), whichever hour folder
a reading is filed under (docs/analysing.md, "Which readings a window holds"):
    df[(df["_reading_time"] >= "2026-11-25T10:00") & (df["_reading_time"] < "2026-11-25T11:00")]
"""

import pathlib
import sys

import pandas as pd


def compression(f: pathlib.Path):
    with f.open("rb") as head:
        return "gzip" if head.read(2) == b"\x1f\x8b" else None


def load(path: str) -> pd.DataFrame:
    p = pathlib.Path(path)
    if p.is_dir():
        # Objects only: `_reaqtions_layout`, the record of the lake's layout deploy writes, holds no readings.
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("_"))
        return pd.concat((pd.read_json(f, lines=True, compression=compression(f)) for f in files), ignore_index=True)
    return pd.read_csv(p)


if __name__ == "__main__":
    df = load(sys.argv[1] if len(sys.argv) > 1 else "readings.csv")
    print(df.groupby(df["device_id"].fillna("(no device_id)"))[["PM2_5", "PM10", "AQI"]].agg(["mean", "max"]))
