"""End-to-end test of a tablet server with the official Python client.

Run by tablet/tests/python_client.rs against a tablet server in static mode that holds the
whole table `projects/p/instances/i/tables/$BT_TABLE` (default `t`) with families `cf1`
(no GC) and `cf2` (max 1 version). BIGTABLE_EMULATOR_HOST points the client at the server.

With BT_VERIFY=1 it writes nothing: it checks, through reads alone, the state a full run
left in the table (the Rust test runs it so after the table was split, so that every read
spans the split's children).
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

    # Sample row keys: increasing offsets, at least one sample, the last one the end of
    # the table (the empty key).
    check_samples(table.sample_row_keys(), 1)

    # Delete a row.
    table.mutate_row(b"row-007", [DeleteAllFromRow()])
    check(table.read_row(b"row-007") is None, "row-007 deleted")

    # GC: cf2 keeps one version.
    table.mutate_row(b"row-008", [SetCell("cf2", b"x", b"x-new", timestamp_micros=9_000_000)])
    check([c.value for c in table.read_row(b"row-008").get_cells("cf2", b"x")] == [b"x-new"], "max versions 1")

    client.close()
    print("python client end-to-end: all checks passed")


def check_samples(samples, at_least):
    check(len(samples) >= at_least, f"at least {at_least} samples: {samples}")
    offsets = [off for _, off in samples]
    check(offsets == sorted(offsets), f"offsets increase: {offsets}")
    keys = [key for key, _ in samples]
    check(keys[-1] == b"", f"the last sample is the end of the table: {keys}")
    check(keys[:-1] == sorted(set(keys[:-1])) and b"" not in keys[:-1], f"sample keys increase: {keys}")


def verify():
    """The state main() leaves, read back (every read may span tablets)."""
    client = BigtableDataClient(project=PROJECT)
    table = client.get_table(INSTANCE, TABLE)

    # Rows written by an earlier verify pass (below) may be there too.
    rows = [r for r in table.read_rows(ReadRowsQuery()) if not r.row_key.endswith(b"-after-split")]
    want = [b"big", b"counter"] + [b"row-%03d" % i for i in range(0, 50) if i != 7]
    check([r.row_key for r in rows] == want, f"every row once, in order: {[r.row_key for r in rows]}")
    by_key = {r.row_key: r for r in rows}
    check(by_key[b"big"].get_cells("cf1", b"blob")[0].value == bytes(range(256)) * 8192, "2 MiB value")
    check(
        [c.value for c in by_key[b"row-001"].get_cells("cf1", b"a")] == [b"newer", b"value-1"],
        "two versions of row-001",
    )
    check(by_key[b"row-005"].get_cells("cf1", b"checked")[0].value == b"yes", "row-005 true branch")
    check(by_key[b"row-006"].get_cells("cf1", b"checked")[0].value == b"no", "row-006 false branch")
    check(struct.unpack(">q", by_key[b"counter"].get_cells("cf1", b"n")[0].value)[0] == 3, "counter = 3")
    check(by_key[b"counter"].get_cells("cf1", b"s")[0].value == b"abcd", "appended value")
    check([c.value for c in by_key[b"row-008"].get_cells("cf2", b"x")] == [b"x-new"], "max versions 1")
    for i in range(1, 50):
        if i not in (7, 8):
            check(by_key[b"row-%03d" % i].get_cells("cf2", b"x")[0].value == b"x-%d" % i, f"row-{i:03d} cf2:x")

    # A range and a limit that cross from one tablet into the next.
    rows = table.read_rows(ReadRowsQuery(row_ranges=[RowRange(start_key=b"c", end_key=b"row-003")]))
    check([r.row_key for r in rows] == [b"counter", b"row-000", b"row-001", b"row-002"], "range across tablets")
    rows = table.read_rows(ReadRowsQuery(limit=3, row_filter=row_filters.CellsColumnLimitFilter(1)))
    check([r.row_key for r in rows] == [b"big", b"counter", b"row-000"], "limit across tablets")
    check([c.value for c in rows[2].get_cells("cf1", b"a")] == [b"v0"], "filter across tablets")

    # Writes still land on both sides, and the samples name more than the table's end.
    table.mutate_row(b"a-after-split", [SetCell("cf1", b"a", b"1", timestamp_micros=1_000)])
    table.mutate_row(b"zz-after-split", [SetCell("cf1", b"a", b"2", timestamp_micros=1_000)])
    keys = [r.row_key for r in table.read_rows(ReadRowsQuery(row_keys=[b"a-after-split", b"zz-after-split"]))]
    check(keys == [b"a-after-split", b"zz-after-split"], f"writes after the split: {keys}")
    check_samples(table.sample_row_keys(), 2)

    client.close()
    print("python client end-to-end (verify): all checks passed")


if __name__ == "__main__":
    try:
        if os.environ.get("BT_VERIFY") == "1":
            verify()
        else:
            main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
