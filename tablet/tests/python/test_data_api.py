"""End-to-end test of a tablet server with the official Python client.

Run by tablet/tests/python_client.rs against a tablet server in static mode that holds the
whole table `projects/p/instances/i/tables/t` with families `cf1` (no GC) and `cf2`
(max 1 version). BIGTABLE_EMULATOR_HOST points the client at the server.
"""

import os
import struct
import sys

from google.cloud.bigtable.data import (
    BigtableDataClient,
    DeleteAllFromRow,
    ReadRowsQuery,
    RowMutationEntry,
    RowRange,
    SetCell,
    row_filters,
)
from google.cloud.bigtable.data.read_modify_write_rules import AppendValueRule, IncrementRule

PROJECT, INSTANCE, TABLE = "p", "i", os.environ.get("BT_TABLE", "t")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    assert os.environ.get("BIGTABLE_EMULATOR_HOST"), "BIGTABLE_EMULATOR_HOST must be set"
    client = BigtableDataClient(project=PROJECT)
    table = client.get_table(INSTANCE, TABLE)

    # Writes: one row, then many rows in one bulk request.
    table.mutate_row(b"row-000", [SetCell("cf1", b"a", b"v0", timestamp_micros=1_000_000)])
    entries = [
        RowMutationEntry(
            b"row-%03d" % i,
            [
                SetCell("cf1", b"a", b"value-%d" % i, timestamp_micros=2_000_000),
                SetCell("cf1", b"b", b"b-%d" % i, timestamp_micros=2_000_000),
                SetCell("cf2", b"x", b"x-%d" % i, timestamp_micros=2_000_000),
            ],
        )
        for i in range(1, 50)
    ]
    table.bulk_mutate_rows(entries)

    # Point read: row-000 has one cell.
    row = table.read_row(b"row-000")
    check(row is not None, "row-000 missing")
    cells = row.get_cells("cf1", b"a")
    check([c.value for c in cells] == [b"v0"], f"row-000 cf1:a = {cells}")
    check(cells[0].timestamp_micros == 1_000_000, "timestamp kept")

    # Versions: a second version of row-001 cf1:a, newest first.
    table.mutate_row(b"row-001", [SetCell("cf1", b"a", b"newer", timestamp_micros=3_000_000)])
    row = table.read_row(b"row-001")
    check([c.value for c in row.get_cells("cf1", b"a")] == [b"newer", b"value-1"], "two versions, newest first")
    # cells-per-column limit 1 keeps only the newest.
    row = table.read_row(b"row-001", row_filter=row_filters.CellsColumnLimitFilter(1))
    check([c.value for c in row.get_cells("cf1", b"a")] == [b"newer"], "column limit 1")

    # Range read with a family filter and a row limit.
    rows = table.read_rows(
        ReadRowsQuery(
            row_ranges=[RowRange(start_key=b"row-010", end_key=b"row-020")],
            row_filter=row_filters.FamilyNameRegexFilter("cf2"),
        )
    )
    check([r.row_key for r in rows] == [b"row-%03d" % i for i in range(10, 20)], "range keys")
    for r in rows:
        check({c.family for c in r.cells} == {"cf2"}, "only cf2 cells")
    rows = table.read_rows(ReadRowsQuery(limit=5))
    check([r.row_key for r in rows] == [b"row-%03d" % i for i in range(0, 5)], "rows_limit 5")

    # Chain: qualifier b, value regex, strip value.
    rows = table.read_rows(
        ReadRowsQuery(
            row_keys=[b"row-003", b"row-004", b"row-033"],
            row_filter=row_filters.RowFilterChain(
                filters=[
                    row_filters.ColumnQualifierRegexFilter(b"b"),
                    row_filters.ValueRegexFilter(b"b-3.*"),
                    row_filters.StripValueTransformerFilter(True),
                ]
            ),
        )
    )
    check([r.row_key for r in rows] == [b"row-003", b"row-033"], f"chain keys {[r.row_key for r in rows]}")
    check(all(c.value == b"" for r in rows for c in r.cells), "values stripped")

    # A large value comes back whole (chunked on the wire).
    big = bytes(range(256)) * 8192  # 2 MiB
    table.mutate_row(b"big", [SetCell("cf1", b"blob", big, timestamp_micros=5_000_000)])
    check(table.read_row(b"big").get_cells("cf1", b"blob")[0].value == big, "2 MiB value round trip")

    # Check-and-mutate: predicate matches -> true branch.
    matched = table.check_and_mutate_row(
        b"row-005",
        predicate=row_filters.ValueRegexFilter(b"value-5"),
        true_case_mutations=[SetCell("cf1", b"checked", b"yes", timestamp_micros=6_000_000)],
        false_case_mutations=[SetCell("cf1", b"checked", b"no", timestamp_micros=6_000_000)],
    )
    check(matched is True, "predicate matched")
    check(table.read_row(b"row-005").get_cells("cf1", b"checked")[0].value == b"yes", "true branch applied")
    matched = table.check_and_mutate_row(
        b"row-006",
        predicate=row_filters.ValueRegexFilter(b"nothing-like-this"),
        true_case_mutations=[SetCell("cf1", b"checked", b"yes", timestamp_micros=6_000_000)],
        false_case_mutations=[SetCell("cf1", b"checked", b"no", timestamp_micros=6_000_000)],
    )
    check(matched is False, "predicate did not match")
    check(table.read_row(b"row-006").get_cells("cf1", b"checked")[0].value == b"no", "false branch applied")

    # Read-modify-write: increment (64-bit big-endian) and append.
    res = table.read_modify_write_row(b"counter", IncrementRule("cf1", b"n", 5))
    check(struct.unpack(">q", res.get_cells("cf1", b"n")[0].value)[0] == 5, "increment from missing = 5")
    res = table.read_modify_write_row(b"counter", [IncrementRule("cf1", b"n", -2), AppendValueRule("cf1", b"s", b"ab")])
    check(struct.unpack(">q", res.get_cells("cf1", b"n")[0].value)[0] == 3, "increment by -2 = 3")
    check(res.get_cells("cf1", b"s")[0].value == b"ab", "append to missing")
    res = table.read_modify_write_row(b"counter", AppendValueRule("cf1", b"s", b"cd"))
    check(res.get_cells("cf1", b"s")[0].value == b"abcd", "append")

    # Sample row keys: increasing offsets, at least one sample.
    samples = table.sample_row_keys()
    check(len(samples) >= 1, "samples")
    offsets = [off for _, off in samples]
    check(offsets == sorted(offsets), f"offsets increase: {offsets}")

    # Delete a row.
    table.mutate_row(b"row-007", [DeleteAllFromRow()])
    check(table.read_row(b"row-007") is None, "row-007 deleted")

    # GC: cf2 keeps one version.
    table.mutate_row(b"row-008", [SetCell("cf2", b"x", b"x-new", timestamp_micros=9_000_000)])
    check([c.value for c in table.read_row(b"row-008").get_cells("cf2", b"x")] == [b"x-new"], "max versions 1")

    client.close()
    print("python client end-to-end: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
