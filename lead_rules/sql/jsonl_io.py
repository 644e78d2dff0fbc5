"""Reading a JSON Lines population into DuckDB: one cheap pre-pass, then one strict parse per line.

The part of :mod:`.duckdb_io` for the documented input format. :func:`jsonl_precheck_sql` is one
parallel pass of regular expressions (RE2) over the lines: the lines strict JSON may refuse
(:data:`SUSPECT_PATTERN`, decided afterwards by the interpreter's strict reader), the lines whose
text shows a value of the wrong JSON kind (:func:`~.duckdb_io.guard_pattern`) and whether a
``bene_id`` can repeat. :func:`jsonl_input_sql` then reads each line with one strict typed
transform (the fast path) or, for a line that needs it, the exact path of :mod:`.duckdb_io`
(:func:`~.duckdb_io.check` / :func:`~.duckdb_io.convert`), producing the rows of
:data:`~.duckdb_io.INPUT_VIEW`. :func:`lead_rules.sql.run.register_input` puts the two together.
"""

from __future__ import annotations

from pathlib import Path

from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type
from .constants import MONEY_SCALE
from .duckdb_io import (
    BENEFICIARY,
    Field,
    check,
    convert,
    fields_of,
    guard_pattern,
    lambda_var,
    money_as_text,
    record_fields,
)
from .quoting import identifier, literal


def typed_spec(t: Type) -> str:
    """A json_transform structure of the fast path: codes, dates and months as VARCHAR, nested structs expanded."""
    if isinstance(t, StructT):
        return "{" + ",".join(f'"{n}":{typed_spec(ft)}' for n, ft in t.fields) + "}"
    if isinstance(t, ListT):
        return "[" + typed_spec(t.elem) + "]"
    if t == BOOL:
        return '"BOOLEAN"'
    if t == INT:
        return '"BIGINT"'
    return '"VARCHAR"'


def fast_ok(x: str, f: Field) -> str:
    """SQL: fast-path value ``x`` of field ``f`` is valid (codes, bools and ints are guarded by the pattern)."""
    t = f.type
    empty = "" if f.required else f"{x} IS NULL OR "
    if t == STRING and f.name == "bene_id":
        return f"({x} IS NOT NULL AND {x} <> '')"
    if t == DATE:
        return (
            f"({empty}(length({x}) = 10 AND substr({x}, 5, 1) = '-' AND substr({x}, 8, 1) = '-' "
            f"AND {x} >= '0001' AND TRY_CAST({x} AS DATE) IS NOT NULL))"
        )
    if t == MONTH:
        return (
            f"({empty}(length({x}) = 7 AND substr({x}, 5, 1) = '-' AND substr({x}, 6, 2) BETWEEN '01' AND '12' "
            f"AND {x} >= '0001' AND TRY_CAST(substr({x}, 1, 4) AS INTEGER) IS NOT NULL))"
        )
    if t == DECIMAL:
        return f"({empty}TRY_CAST({x} AS DECIMAL(18, {MONEY_SCALE})) IS NOT NULL)"  # in range, else exact path
    if isinstance(t, StructT):
        parts = [fast_ok(f"{x}.{identifier(s.name)}", s) for s in fields_of(t)]
        parts = [p for p in parts if p != "TRUE"]
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
    return "TRUE"


def fast_convert(x: str, f: Field) -> str:
    """SQL: the typed value of valid fast-path value ``x`` of field ``f``.

    A JSON ``null`` of a field with a default takes the default, as an absent key does on the
    exact path (records.md: absent and null both mean "not known").
    """
    value = _fast_value(x, f)
    if f.default is not None and not isinstance(f.type, ListT):
        default = "TRUE" if f.default is True else "FALSE" if f.default is False else literal(str(f.default))
        return f"coalesce({value}, {default})"
    return value


def _fast_value(x: str, f: Field) -> str:
    t = f.type
    if t == DATE:
        return f"TRY_CAST({x} AS DATE)"
    if t == MONTH:
        return x
    if t == DECIMAL:
        return f"TRY_CAST({x} AS DECIMAL(18, {MONEY_SCALE}))"
    if isinstance(t, StructT):
        if _as_read(t):
            return x
        packed = ", ".join(
            f"{identifier(s.name)} := {fast_convert(f'{x}.{identifier(s.name)}', s)}" for s in fields_of(t)
        )
        return f"(CASE WHEN {x} IS NULL THEN NULL ELSE struct_pack({packed}) END)"
    return x


def _as_read(t: StructT) -> bool:
    """True when the fast path's value of a ``t`` struct is the transform's own (:func:`typed_spec`).

    No field of it, at any depth, is converted or has a default, and its fields come in the
    transform's order: the struct needs no rebuilding (``struct_pack`` of every field as read).
    """
    fields = fields_of(t)
    if [f.name for f in fields] != [n for n, _ in t.fields]:
        return False
    return all(fast_convert("x", f) == "x" for f in fields)


SUSPECT_PATTERN = rb',\s*[}\]]|[:\[,]\s*[-+]?(?i:nan|inf)|\\u[dD][89a-fA-F]|([\[{]\s*("[^"]*"\s*:\s*)?){33}'
"""Line text DuckDB's lenient JSON reader accepts but strict JSON may not: a comma before a
closing bracket, NaN/Infinity, a surrogate escape, deep nesting. A superset: the reader
(:func:`lead_rules.sql.run.register_input`) finds such lines with this pattern in DuckDB (RE2, in
parallel, :func:`jsonl_precheck_sql`) and decides each with the interpreter's strict reading, so a
string that merely contains the text costs time, never a verdict."""

LINE_SIZE = 8 << 20
"""The longest line (bytes) the parallel line reader takes; a longer line makes the reader retry
with :data:`HUGE_LINE_SIZE`, which reads the file on one thread (DuckDB's CSV buffers hold a line)."""

HUGE_LINE_SIZE = 1 << 30

_LEADING_ID = r'^[ \t]*\{[ \t]*"bene_id"[ \t]*:[ \t]*"([^"\\]*)"'
"""A record whose first key is ``bene_id`` with a plain string value: the id, read without parsing."""


def jsonl_lines_sql(path: str | Path, line_size: int = LINE_SIZE, numbered: bool = True) -> str:
    """SQL with one row per line of a JSON Lines file: ``_line`` (1-based, blank lines counted) and ``line``.

    ``WITH ORDINALITY`` numbers the rows, but puts the scan and every operator after it in the same
    pipeline on one thread (DuckDB 2.0's CSV reader has no ``file_row_number``). ``numbered=False``
    leaves ``_line`` NULL and the scan parallel (the rows still stream in file order).
    """
    scan = (
        f"read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}}, "
        "header = false, delim = chr(1), quote = '', escape = '', auto_detect = false, "
        f"max_line_size = {int(line_size)}, strict_mode = false)"
    )
    if not numbered:
        return f"SELECT CAST(NULL AS BIGINT) AS _line, line FROM {scan}"
    return f"SELECT ordinality AS _line, line FROM {scan} WITH ORDINALITY"


GUARDS_NAMED = 1000
"""Up to this many distinct lines the guard pattern flags are named to the read by their hash (the
read then skips the pattern); with more, the read runs the pattern itself."""

NEEDS_LINES = "lead-rules: this JSON Lines input needs its line numbers"
"""The message of the error an unnumbered read (:func:`jsonl_input_sql` with ``numbered=False``)
raises at a line whose error row names its line number (not valid JSON, not an object); the
caller then reads the file again numbered (:func:`lead_rules.sql.run.register_input`)."""


def jsonl_precheck_sql(path: str | Path, record: StructT | None = None, line_size: int = LINE_SIZE) -> str:
    """SQL of one cheap parallel pass before the read: suspect and guarded lines, and whether an id can repeat.

    One row: ``suspects`` (lines matching :data:`SUSPECT_PATTERN`), ``guarded`` (lines matching
    :func:`guard_pattern`) and ``guarded_hashes`` (the ``hash`` of their text, when at most
    :data:`GUARDS_NAMED` distinct ones: a line is told by its content, so the pass needs no line
    numbers and runs on every core), ``unread`` (non-blank lines whose id cannot be read without
    parsing: not ``{"bene_id": "..."`` first) and ``repeats`` (ids read that way, counted again).
    With ``unread = repeats = 0`` no ``bene_id`` repeats, and the reader needs no window over the
    whole input to find them. ``unended`` counts the non-blank lines that do not end in ``}``
    (a line cut short: not valid JSON, its error row names its line). Both patterns run as one
    (RE2 costs about the same per byte for one pattern or two).
    """
    suspect, guard = SUSPECT_PATTERN.decode(), guard_pattern(record)
    lead = literal(_LEADING_ID)
    return (
        "SELECT count(*) FILTER (WHERE suspect) AS suspects, count(*) FILTER (WHERE guarded) AS guarded, "
        f"CASE WHEN count(DISTINCT h) <= {GUARDS_NAMED} "
        "THEN coalesce(list(DISTINCT h) FILTER (WHERE guarded), []) END AS guarded_hashes, "
        "count(*) FILTER (WHERE id IS NULL AND nonblank) AS unread, count(id) - count(DISTINCT id) AS repeats, "
        "count(*) FILTER (WHERE nonblank AND NOT (suffix(line, '}') OR regexp_matches(line, '}\\s*$'))) AS unended "
        "FROM (SELECT line, nonblank, id, suspect, guarded, CASE WHEN guarded THEN hash(line) END AS h "
        "FROM (SELECT line, nonblank, id, "
        f"coalesce(CASE WHEN hit THEN regexp_matches(line, {literal(suspect)}) END, false) AS suspect, "
        f"coalesce(CASE WHEN hit THEN regexp_matches(line, {literal(guard)}) END, false) AS guarded "
        f"FROM (SELECT line, regexp_matches(line, {literal(suspect + '|' + guard)}) AS hit, "
        "coalesce(regexp_matches(line, '[^ ]'), false) AS nonblank, "
        f"CASE WHEN regexp_matches(line, {lead}) THEN regexp_extract(line, {lead}, 1) END AS id "
        f"FROM ({jsonl_lines_sql(path, line_size, numbered=False)}))))"
    )


def guarded_sql(hashes: list[int] | None) -> str | None:
    """SQL true for a line whose text hash is one of ``hashes`` (None: the read runs the guard pattern).

    Two lines of one hash take the exact path alike, which gives every line its own verdict.
    """
    if hashes is None:
        return None
    return f"hash(line) IN ({', '.join(str(int(h)) for h in hashes)})" if hashes else "FALSE"


def jsonl_suspects_sql(path: str | Path, line_size: int = LINE_SIZE, numbered: bool = True) -> str:
    """SQL of the lines matching :data:`SUSPECT_PATTERN` (``_line``, ``line``), read when the precheck found some.

    ``numbered=False``: a parallel scan, ``_line`` NULL, in no set order.
    """
    found = (
        f"SELECT _line, line FROM ({jsonl_lines_sql(path, line_size, numbered)}) "
        f"WHERE regexp_matches(line, {literal(SUSPECT_PATTERN.decode())})"
    )
    return found + " ORDER BY _line" if numbered else found


def _no_repeated_keys(line: str) -> str:
    """SQL: no object anywhere in valid JSON ``line`` has a key twice (DuckDB would keep the first)."""
    valid = f"CASE WHEN json_valid({line}) THEN {line} END"
    top = f"json_keys({valid})"
    nested = f"json_keys({valid}, '$..*')"
    k = lambda_var()
    return (
        f"(coalesce(len({top}) = len(list_distinct({top})), true) AND "
        f"coalesce(list_bool_and(list_transform({nested}, lambda {k}: len({k}) = len(list_distinct({k})))), true))"
    )


def _key_count(x: str, t: StructT) -> str:
    """SQL: the keys of the object that strict-transformed into ``x`` (every field of ``t`` is present)."""
    parts = [str(len(t.fields))]
    for n, ft in t.fields:
        v = f"{x}.{identifier(n)}"
        if isinstance(ft, StructT):
            parts.append(f"CASE WHEN {v} IS NULL THEN 0 ELSE {_key_count(v, ft)} END")
        elif isinstance(ft, ListT) and isinstance(ft.elem, StructT):
            e = lambda_var()
            if any(isinstance(s, StructT | ListT) for _, s in ft.elem.fields):
                per = f"CASE WHEN {e} IS NULL THEN 0 ELSE {_key_count(e, ft.elem)} END"
                parts.append(f"coalesce(list_sum(list_transform({v}, lambda {e}: {per})), 0)")
            else:
                parts.append(f"{len(ft.elem.fields)} * coalesce(len(list_filter({v}, lambda {e}: {e} IS NOT NULL)), 0)")
    return "(" + " + ".join(parts) + ")"


def jsonl_input_sql(
    path: str | Path,
    record: StructT | None = None,
    bad: str = "FALSE",
    line_size: int = LINE_SIZE,
    guarded: str | None = None,
    numbered: bool = True,
) -> str:
    """SQL with one row per non-blank line of a JSON Lines file: ``_line``, ``_error``, ``_bene_id`` and typed columns.

    Each line is parsed once, by a strict typed transform (the fast path: every field of the
    schema present, no key twice in any of its objects). The line's colon count against the keys
    that transform saw proves there is no other key (so none repeated elsewhere either). A line
    whose text shows a value of the wrong JSON kind (:func:`guard_pattern`), which the transform
    refuses (a field absent, a key twice), or whose dates, months, money or ids fail the fast
    checks, takes the exact path (:func:`check`/:func:`convert`), which gives the precise cause
    or the lax conversions pydantic accepts (``"yes"`` for a bool, ``"3"`` for an int) and
    looks for repeated keys at any depth. ``bad`` is SQL true for the lines strict JSON refuses
    (:func:`jsonl_precheck_sql`), ``guarded`` SQL true for the lines the guard pattern flags
    (None: the read runs the pattern); ``record`` is the record struct of the policy's schema
    (default: the bundled one). ``numbered=False`` reads the lines in parallel without numbers
    (``_line`` NULL, ``bad`` must be ``FALSE``) and raises :data:`NEEDS_LINES` at the first line
    whose error row would name its number.
    """
    fields = record_fields(record)
    top_struct = record or BENEFICIARY
    top = "{" + ",".join(f'"{f.name}":' + typed_spec(f.type) for f in fields) + "}"
    # blank (only spaces, as trim) and object lines are told by anchored patterns, which copy no line
    is_object = "regexp_matches(line, '^ *[{]')"
    colons = "(strlen(line) - strlen(replace(line, ':', '')))"  # bytes: a colon is one
    parsed = (
        f"SELECT _line, line, {bad} AS _bad, CASE WHEN {is_object} THEN 'OBJECT' ELSE 'OTHER' END AS _kind, "
        f"CASE WHEN {is_object} AND NOT {guarded or f'regexp_matches(line, {literal(guard_pattern(record))})'} "
        f"THEN TRY(json_transform_strict(line, {literal(top)})) END AS t "
        f"FROM ({jsonl_lines_sql(path, line_size, numbered)}) WHERE line IS NOT NULL AND regexp_matches(line, '[^ ]')"
    )
    whole = f"coalesce(t IS NOT NULL AND {colons} = {_key_count('t', top_struct)}, FALSE)"
    keyed = f"SELECT *, {whole} AS _whole FROM ({parsed})"
    ok = f"(CASE WHEN _bad THEN FALSE WHEN _whole THEN TRUE ELSE json_valid(line) AND {_no_repeated_keys('line')} END)"
    fast_parts = ["_whole"]
    fast_cols = {}
    for f in fields:
        x = f"t.{identifier(f.name)}"
        if isinstance(f.type, ListT) and isinstance(f.type.elem, StructT):
            e = lambda_var()
            elem = f.type.elem
            leaf_ok = " AND ".join(
                p for p in (fast_ok(f"{e}.{identifier(s.name)}", s) for s in fields_of(elem)) if p != "TRUE"
            )
            bad_elem = f"{e} IS NULL" + (f" OR NOT ({leaf_ok})" if leaf_ok else "")
            fast_parts.append(f"len(list_filter({x}, lambda {e}: {bad_elem})) = 0")
            if _as_read(elem):  # the clean path has no null element: each is the transform's own
                fast_cols[f.name] = f"coalesce({x}, [])"
            else:
                packed = ", ".join(
                    f"{identifier(s.name)} := {fast_convert(f'{e}.{identifier(s.name)}', s)}" for s in fields_of(elem)
                )
                fast_cols[f.name] = f"coalesce(list_transform({x}, lambda {e}: struct_pack({packed})), [])"
        else:
            part = fast_ok(x, f)
            if isinstance(f.type, StructT) and f.required:
                part = f"({x} IS NOT NULL AND {part})"
            if part != "TRUE":
                fast_parts.append(part)
            fast_cols[f.name] = fast_convert(x, f)
    clean = " AND ".join(fast_parts)
    raw = {
        f.name: f"json_extract(CASE WHEN _kind = 'OBJECT' AND _ok THEN _text END, {literal('$.' + f.name)})"
        for f in fields
    }
    checks = ", ".join(check(raw[f.name], f, literal(f.name)) for f in fields)
    if numbered:
        invalid = "'line ' || _line || ': not valid JSON'"
        other = "'line ' || _line || ': a record must be a JSON object'"
    else:
        if bad != "FALSE":
            raise ValueError("an unnumbered read cannot name the lines strict JSON refuses")
        invalid = other = f"error({literal(NEEDS_LINES)})"
    error = (
        f"CASE WHEN NOT _ok THEN {invalid} WHEN _kind <> 'OBJECT' THEN {other} "
        f"WHEN _clean THEN NULL ELSE coalesce({checks}) END"
    )
    cols = ", ".join(
        f"CASE WHEN _clean THEN {fast_cols[f.name]} ELSE {convert(raw[f.name], f)} END AS {identifier(f.name)}"
        for f in fields
    )
    staged = f"SELECT *, NOT _bad AND coalesce({clean}, FALSE) AS _clean, {ok} AS _ok FROM ({keyed})"
    # the exact path reads money numbers as text (a double would round 9999999999999999.99 to 1e16)
    staged = f"SELECT *, CASE WHEN NOT _clean THEN {money_as_text('line', record)} END AS _text FROM ({staged})"
    bene_id = f"CASE WHEN json_type({raw['bene_id']}) = 'VARCHAR' THEN {raw['bene_id']} ->> '$' END"
    return (
        f"SELECT _line, {error} AS _error, CASE WHEN _clean THEN t.bene_id ELSE {bene_id} END AS _bene_id, "
        f"{cols} FROM ({staged})"
    )
