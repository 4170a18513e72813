"""The issue's acceptance test: the official Python client against a cluster, through the gateway.

Run by master/tests/gateway_python.rs, which starts a MiniCluster (a master and two tablet
servers) and a gateway in one process and sets BIGTABLE_EMULATOR_HOST to the gateway. The
table is created here with the admin client, pre-split so that its rows span tablets on
both servers.
"""

import datetime
import os
import struct
import sys

from google.cloud import bigtable
from google.cloud.bigtable import column_family, row_filters
from google.cloud.bigtable.row_set import RowRange, RowSet

PROJECT, INSTANCE, TABLE = "p", "i", "py"
# Recent enough for the one-week age rule; whole seconds (Bigtable stores milliseconds).
TS = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def key(i):
    return b"row-%03d" % i


def main():
    assert os.environ.get("BIGTABLE_EMULATOR_HOST"), "BIGTABLE_EMULATOR_HOST must be set"
    client = bigtable.Client(project=PROJECT, admin=True)
    instance = client.instance(INSTANCE)
    table = instance.table(TABLE)

    # Admin: a table with families and GC rules, split into three tablets.
    check(not table.exists(), "the table does not exist yet")
    week = column_family.MaxAgeGCRule(datetime.timedelta(days=7))
    table.create(
        column_families={
            "cf": column_family.MaxVersionsGCRule(3),
            "events": column_family.GCRuleUnion([column_family.MaxVersionsGCRule(1), week]),
        },
        initial_split_keys=[b"row-020", b"row-040"],
    )
    check(table.exists(), "the table exists")
    check(TABLE in [t.table_id for t in instance.list_tables()], "listed")
    families = table.list_column_families()
    check(sorted(families) == ["cf", "events"], f"families {sorted(families)}")
    check(families["cf"].gc_rule == column_family.MaxVersionsGCRule(3), f"cf rule {families['cf'].gc_rule}")
    union = families["events"].gc_rule
    check(isinstance(union, column_family.GCRuleUnion) and len(union.rules) == 2, f"events rule {union}")

    # Writes: one row at a time, then a bulk write spanning every tablet.
    row = table.direct_row(key(0))
    row.set_cell("cf", b"a", b"v0", timestamp=TS)
    row.commit()
    rows = []
    for i in range(1, 60):
        r = table.direct_row(key(i))
        r.set_cell("cf", b"a", b"value-%d" % i, timestamp=TS)
        r.set_cell("cf", b"b", b"b-%d" % i, timestamp=TS)
        r.set_cell("events", b"x", b"x-%d" % i, timestamp=TS)
        rows.append(r)
    statuses = table.mutate_rows(rows)
    check([s.code for s in statuses] == [0] * 59, f"bulk statuses {[s.code for s in statuses]}")
    bad = table.direct_row(key(70))
    bad.set_cell("nope", b"a", b"x", timestamp=TS)
    good = table.direct_row(key(71))
    good.set_cell("cf", b"a", b"x", timestamp=TS)
    statuses = table.mutate_rows([bad, good])
    check([s.code for s in statuses] == [5, 0], f"per-entry statuses {[s.code for s in statuses]} (NOT_FOUND, OK)")

    # Reads: a point read, versions, a missing row.
    r = table.read_row(key(0))
    check([c.value for c in r.cells["cf"][b"a"]] == [b"v0"], "row-000")
    later = table.direct_row(key(1))
    later.set_cell("cf", b"a", b"newer", timestamp=TS + datetime.timedelta(seconds=1))
    later.commit()
    r = table.read_row(key(1))
    check([c.value for c in r.cells["cf"][b"a"]] == [b"newer", b"value-1"], "two versions, newest first")
    r = table.read_row(key(1), filter_=row_filters.CellsColumnLimitFilter(1))
    check([c.value for c in r.cells["cf"][b"a"]] == [b"newer"], "column limit 1")
    check(table.read_row(b"no-such-row") is None, "missing row")

    # Reads across tablets: all rows in order, a range with a family filter, a limit.
    keys = [r.row_key for r in table.read_rows()]
    check(keys == [key(i) for i in range(0, 60)] + [key(71)], f"full scan: {len(keys)} rows")
    rs = RowSet()
    rs.add_row_range(RowRange(start_key=key(15), end_key=key(45)))
    got = list(table.read_rows(row_set=rs, filter_=row_filters.FamilyNameRegexFilter("events")))
    check([r.row_key for r in got] == [key(i) for i in range(15, 45)], "range across three tablets")
    check(all(set(r.cells) == {"events"} for r in got), "only the events family")
    got = [r.row_key for r in table.read_rows(start_key=key(10), limit=25)]
    check(got == [key(i) for i in range(10, 35)], f"limit across tablets: {got}")
    chain = row_filters.RowFilterChain(
        filters=[
            row_filters.ColumnQualifierRegexFilter(b"b"),
            row_filters.ValueRegexFilter(b"b-3.*"),
            row_filters.StripValueTransformerFilter(True),
        ]
    )
    got = list(table.read_rows(filter_=chain))
    check([r.row_key for r in got] == [key(3)] + [key(i) for i in range(30, 40)], "chain filter")
    check(all(c.value == b"" for r in got for c in r.cells["cf"][b"b"]), "values stripped")

    # Check-and-mutate: both branches.
    cond = table.conditional_row(key(5), filter_=row_filters.ValueRegexFilter(b"value-5"))
    cond.set_cell("cf", b"checked", b"yes", timestamp=TS, state=True)
    cond.set_cell("cf", b"checked", b"no", timestamp=TS, state=False)
    check(cond.commit() is True, "predicate matched")
    cond = table.conditional_row(key(45), filter_=row_filters.ValueRegexFilter(b"nothing-like-this"))
    cond.set_cell("cf", b"checked", b"yes", timestamp=TS, state=True)
    cond.set_cell("cf", b"checked", b"no", timestamp=TS, state=False)
    check(cond.commit() is False, "predicate did not match")
    check(table.read_row(key(5)).cells["cf"][b"checked"][0].value == b"yes", "true branch applied")
    check(table.read_row(key(45)).cells["cf"][b"checked"][0].value == b"no", "false branch applied")

    # Increment and append.
    app = table.append_row(key(50))
    app.increment_cell_value("cf", b"n", 5)
    out = app.commit()
    check(struct.unpack(">q", out["cf"][b"n"][0][0])[0] == 5, f"increment from nothing: {out}")
    app = table.append_row(key(50))
    app.increment_cell_value("cf", b"n", -2)
    app.append_cell_value("cf", b"s", b"ab")
    out = app.commit()
    check(struct.unpack(">q", out["cf"][b"n"][0][0])[0] == 3, "increment by -2")
    check(out["cf"][b"s"][0][0] == b"ab", "append")

    # Sample row keys: the tablet boundaries, offsets growing, the empty key last.
    samples = [(s.row_key, s.offset_bytes) for s in table.sample_row_keys()]
    sample_keys = [k for k, _ in samples]
    check(b"row-020" in sample_keys and b"row-040" in sample_keys, f"tablet ends sampled: {samples}")
    check(sample_keys[-1] == b"" and samples[-1][1] > 0, f"last sample: {samples}")
    offsets = [o for _, o in samples]
    check(offsets == sorted(offsets), f"offsets grow: {offsets}")

    # Drop a row range (admin DropRowRange by prefix), then delete one row.
    table.drop_by_prefix(b"row-02")
    keys = [r.row_key for r in table.read_rows(start_key=key(15), end_key=key(35))]
    check(keys == [key(i) for i in range(15, 20)] + [key(i) for i in range(30, 35)], f"row-02x dropped: {keys}")
    gone = table.direct_row(key(7))
    gone.delete()
    gone.commit()
    check(table.read_row(key(7)) is None, "row-007 deleted")

    # Delete the table.
    table.delete()
    check(not table.exists(), "the table is gone")
    check(TABLE not in [t.table_id for t in instance.list_tables()], "no longer listed")
    print("python client through the gateway: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
