"""The decision query: criteria columns, pathways, ties, the hierarchy and the reasons.

:class:`QueryBuilder` takes the item columns of a :class:`~.expressions.SqlCompiler`
and builds the one ``SELECT`` that decides a population: the chain of CTEs of
named items by dependency depth, per pathway the requirement flags per ACO,
the tie rank and tie rule, the first pathway of the hierarchy that yields an
ACO, and the ``reasons`` array (the rules of
:meth:`lead_rules.engine.policy.Policy.evaluate` as CASE and ARRAY
expressions), with the texts a reason can hold recorded for the ENUM type.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ..engine.policy import requirement_label
from ..language.types import STRING
from .builders import (
    and_,
    bool_int_,
    case_,
    col_,
    is_bool_,
    is_null_,
    lam_,
    not_null_,
    or_,
    p_,
    struct_,
    sum_,
)
from .compiled import (
    MISSING,
    ON_TIE_RULES,
    REASON_TYPE,
    Ctx,
    OutputColumn,
    criterion_column_name,
    definition_column_name,
    rank_column_name,
)
from .expressions import SqlCompiler
from .sqltypes import (
    POPULATION_TABLE,
    array_type,
    sql_type,
)


class QueryBuilder:
    """Builds the decision query from the compiled criteria and pathways."""

    def __init__(self, sc: SqlCompiler, definitions: bool = False) -> None:
        self.sc = sc
        self.definitions = definitions
        self.acos = sc.acos
        self.ids = [a.id for a in self.acos]
        self.order = sorted(range(len(self.acos)), key=lambda k: self.ids[k])
        self.columns: list[OutputColumn] = []
        self.outputs: list[tuple[str, exp.Expr]] = []
        self.reason_texts: dict[str, set[str]] = {}  # every pathway, criterion, value a reason can hold

    def build(self) -> exp.Select:
        sc = self.sc
        doc = sc.doc
        # criteria: one column each, per ACO where they depend on it
        for name, item in doc.named.items():
            if item.kind != "criterion" and not self.definitions:
                continue
            deps = sc.res.depends.get(name, frozenset())
            targets: list[int | None] = list(range(len(self.acos))) if "aco" in deps else [None]
            for k in targets:
                ref = sc.named_ref(name, Ctx(k))
                aco_id = None if k is None else self.ids[k]
                if item.kind == "criterion":
                    col = criterion_column_name(name, aco_id)
                    self.columns.append(OutputColumn(col, "criterion", name, aco_id))
                else:
                    col = definition_column_name(name, aco_id)
                    self.columns.append(OutputColumn(col, "definition", name, aco_id))
                self.outputs.append((col, ref))
        # pathways
        pathway_cols: list[tuple[str, exp.Expr]] = []
        tie_cols: list[tuple[str, exp.Expr]] = []
        win_cols: list[tuple[str, exp.Expr]] = []
        plans = []
        for pname, _ in doc.hierarchy:
            pw = doc.pathways[pname]
            plan = self.pathway(pname, pw, pathway_cols, tie_cols, win_cols)
            plans.append(plan)
        # chain of CTEs: named items by depth, then requirements, winners, final
        items = sorted(sc.item_columns.values(), key=lambda i: (i.depth, i.column))
        ctes: list[tuple[str, exp.Select]] = []
        prev = POPULATION_TABLE
        for depth, group in itertools.groupby(items, key=lambda i: i.depth):
            name = f"_lr_level{depth}"
            cols: list[exp.Expr] = [exp.Star()]
            for it in group:
                assert it.expr is not None
                cols.append(exp.alias_(it.expr, it.column, quoted=True, copy=False))
            ctes.append((name, exp.select(*cols, copy=False).from_(prev, copy=False)))
            prev = name
        for name, cols_ in (("_lr_requirements", pathway_cols), ("_lr_ties", tie_cols), ("_lr_pathways", win_cols)):
            projections = [exp.alias_(v, c, quoted=True, copy=False) for c, v in cols_]
            ctes.append((name, exp.select(exp.Star(), *projections, copy=False).from_(prev, copy=False)))
            prev = name
        counts, entries, final = self.final(plans)
        for name, cols_ in (("_lr_failures", counts), ("_lr_reasons", entries)):
            projections = [exp.alias_(v, c, quoted=True, copy=False) for c, v in cols_]
            ctes.append((name, exp.select(exp.Star(), *projections, copy=False).from_(prev, copy=False)))
            prev = name
        outputs = [exp.alias_(v, c, quoted=True, copy=False) for c, v in self.outputs]
        query = exp.select(*final, *outputs, copy=False).from_(prev, copy=False)
        for name, cte in ctes:
            query = query.with_(name, as_=cte, copy=False)
        return query

    def pathway(
        self,
        pname: str,
        pw: Any,
        req_cols: list[tuple[str, exp.Expr]],
        tie_cols: list[tuple[str, exp.Expr]],
        win_cols: list[tuple[str, exp.Expr]],
    ) -> dict[str, Any]:
        sc = self.sc
        n_acos = len(self.acos)
        labels = [requirement_label(r) for r in pw.requires]
        req: list[list[exp.Expr]] = []  # [i][k]
        for i, r in enumerate(pw.requires):
            row: list[exp.Expr] = []
            for k in range(n_acos):
                value = sc.compile(r, Ctx(k))
                if isinstance(value, (exp.Column, exp.Boolean)):  # a criterion column or a constant: as it is
                    row.append(value)
                    continue
                col = f"req:{pname}:{i}@{self.ids[k]}"
                req_cols.append((col, value))
                row.append(col_(col))
            req.append(row)
        q: list[exp.Expr] = []
        for k in range(n_acos):
            col = f"q:{pname}@{self.ids[k]}"
            held = and_(*[req[i][k] for i in range(len(req))]) if req else exp.true()
            req_cols.append((col, exp.Coalesce(this=held, expressions=[exp.false()])))
            q.append(col_(col))
        # ranks
        ranks: list[exp.Expr] | None = None
        if pw.tie_rank is not None and n_acos:
            ranks = []
            for k in range(n_acos):
                col = rank_column_name(pname, self.ids[k])
                ctx = Ctx(k)
                if sc.is_const(pw.tie_rank, ctx):
                    value = sc.compile(pw.tie_rank, ctx)
                    req_cols.append((col, value))
                    ranks.append(col_(col))
                else:
                    ranks.append(sc.item_ref((f"rank:{pname}", k), col, pw.tie_rank, pw.tie_rank.span))
                self.columns.append(OutputColumn(col, "rank", pname, self.ids[k]))
                self.outputs.append((col, col_(col)))
        # the on_tie rule
        rule: Any = "not_aligned"
        rule_sql: exp.Expr | None = None
        if pw.on_tie is not None:
            if "aco" in sc.free(pw.on_tie):
                sc.issue("error", "S107", "an on_tie rule that depends on the ACO cannot be compiled", pw.on_tie.span)
            elif sc.is_const(pw.on_tie, Ctx()):
                rule = sc.const_value(pw.on_tie, Ctx())
                if rule is MISSING:
                    rule_sql = sc.compile(pw.on_tie, Ctx())
            else:
                rule_sql = sc.compile(pw.on_tie, Ctx())
        if rule_sql is not None:
            col = f"on_tie:{pname}"
            req_cols.append((col, rule_sql))
            rule_sql = col_(col)
            self.columns.append(OutputColumn(col, "on_tie", pname, None))
            self.outputs.append((col, col_(col)))
        nq = sum_([bool_int_(x) for x in q])
        if ranks is not None:
            best = exp.ArrayMax(this=exp.Array(expressions=[case_((q[k], ranks[k])) for k in range(n_acos)]))
            tie_cols.append((f"best:{pname}", best))
            best_c = col_(f"best:{pname}")
            top: list[exp.Expr] = [
                exp.Coalesce(
                    this=and_(q[k], or_(is_null_(best_c), exp.EQ(this=ranks[k], expression=best_c))),
                    expressions=[exp.false()],
                )
                for k in range(n_acos)
            ]
            for k in range(n_acos):  # each ACO's flag once, as a column: the winner and the tie reason read it
                tie_cols.append((f"top:{pname}@{self.ids[k]}", top[k]))
            top = [col_(f"top:{pname}@{self.ids[k]}") for k in range(n_acos)]
        else:
            top = list(q)
        tie_cols.append((f"nq:{pname}", nq))
        ntop = sum_([bool_int_(x) for x in top])
        top_first = case_(*[(top[k], exp.Literal.string(self.ids[k])) for k in self.order]) if n_acos else exp.Null()
        lowest = exp.EQ(this=rule_sql, expression=exp.Literal.string("lowest_aco_id")) if rule_sql is not None else None
        one = exp.EQ(this=p_(ntop), expression=exp.Literal.number(1))
        many = exp.GT(this=p_(ntop), expression=exp.Literal.number(1))
        if rule == "lowest_aco_id" and rule_sql is None:
            winner: exp.Expr = case_((exp.GTE(this=p_(ntop), expression=exp.Literal.number(1)), top_first))
        elif lowest is not None:
            winner = case_((one, top_first), (and_(many, lowest), top_first))
        else:
            winner = case_((one, top_first))
        win_cols.append((f"w:{pname}", winner))
        # the tie reason
        nq_c = col_(f"nq:{pname}")
        qualifying = self.aco_list(q)
        top_sorted = self.aco_list(top, sorted_ids=True)
        whens: list[tuple[exp.Expr, exp.Expr]] = [
            (exp.LTE(this=nq_c, expression=exp.Literal.number(1)), exp.cast(exp.Null(), REASON_TYPE))
        ]
        if ranks is not None:
            whens.append((one, self.reason(pname, "tie.rank", "true", qualifying)))
        if rule_sql is not None:
            assert lowest is not None
            whens.append((lowest, self.reason(pname, "tie.on_tie", "true", top_sorted)))
            valid = exp.In(this=rule_sql, expressions=[exp.Literal.string(r) for r in ON_TIE_RULES])
            win_cols.append(
                (f"err:{pname}", and_(many, exp.Not(this=exp.Coalesce(this=valid, expressions=[exp.false()]))))
            )
        tie_value = "true" if rule == "lowest_aco_id" and rule_sql is None else "tie"
        tie_reason = case_(*whens, default=self.reason(pname, "tie.on_tie", tie_value, top_sorted))
        win_cols.append((f"t:{pname}", tie_reason))
        per_aco = ["aco" in sc.free(r) for r in pw.requires]
        return {"name": pname, "labels": labels, "req": req, "q": q, "error": rule_sql is not None, "per_aco": per_aco}

    def aco_list(self, flags: Sequence[exp.Expr], sorted_ids: bool = False) -> exp.Expr:
        """The ids of the ACOs whose flag is true, in market (or id) order."""
        order = self.order if sorted_ids else list(range(len(self.acos)))
        if self.sc.duck and order:  # one mask over the id list (the flags are never null)
            ids = exp.Array(expressions=[exp.Literal.string(self.ids[k]) for k in order])
            return exp.Anonymous(this="list_where", expressions=[ids, exp.Array(expressions=[flags[k] for k in order])])
        return self.flatten([(flags[k], exp.Literal.string(self.ids[k])) for k in order], sql_type(STRING))

    def flatten(self, items: Sequence[tuple[exp.Expr, exp.Expr]], elem_t: exp.DataType) -> exp.Expr:
        """The values whose condition is true, in order (no lambda: a flatten of zero-or-one-element lists)."""
        empty = exp.cast(exp.Array(), array_type(elem_t))
        if not items:
            return empty
        parts: list[exp.Expr] = []
        for cond, value in items:
            one = exp.Array(expressions=[value])
            parts.append(one if is_bool_(cond, True) else case_((cond, one), default=empty.copy()))
        return exp.Flatten(this=exp.Array(expressions=parts))

    def reason(self, pathway: str, criterion: str, value: str, acos: exp.Expr | None) -> exp.Expr:
        for key, text in (("pathway", pathway), ("criterion", criterion), ("value", value)):
            self.reason_texts.setdefault(key, set()).add(text)
        acos_sql = acos if acos is not None else exp.cast(exp.Null(), array_type(sql_type(STRING)))
        return struct_(
            pathway=exp.Literal.string(pathway),
            criterion=exp.Literal.string(criterion),
            value=exp.Literal.string(value),
            acos=acos_sql,
        )

    def nonnull_list(self, entries: list[exp.Expr]) -> exp.Expr:
        """The non-null reasons among ``entries``, in order (struct literals are never null)."""
        if self.sc.lambdas:
            p = self.sc.fresh()
            return exp.ArrayFilter(this=exp.Array(expressions=entries), expression=lam_(not_null_(exp.column(p)), p))
        return self.flatten(
            [(exp.true() if isinstance(e, exp.Struct) else not_null_(e), e) for e in entries], REASON_TYPE
        )

    def final(
        self, plans: list[dict[str, Any]]
    ) -> tuple[list[tuple[str, exp.Expr]], list[tuple[str, exp.Expr]], list[exp.Expr]]:
        """The decision projections, with the two CTE column lists they read.

        Each reason a beneficiary may fail with (a requirement false or unknown
        for some ACOs, or a tie) is one column of ``_lr_reasons`` (null when it
        does not apply); the ACO counts those reasons test are columns of
        ``_lr_failures``. The ``reasons`` list then only gathers column values,
        so no expression is evaluated twice.
        """
        n_acos = len(self.acos)
        counts: list[tuple[str, exp.Expr]] = []
        entries: list[tuple[str, exp.Expr]] = []
        failed_entries: list[exp.Expr] = []
        aligned_cases: list[tuple[exp.Expr, exp.Expr]] = []
        for plan in plans:
            pname = plan["name"]
            w = col_(f"w:{pname}")
            held = [self.reason(pname, label, "true", exp.Array(expressions=[w])) for label in plan["labels"]]
            aligned_cases.append((not_null_(w), self.nonnull_list([*held, col_(f"t:{pname}")])))
            for i, label in enumerate(plan["labels"]):
                for value in ("false", "unknown"):
                    flags = []
                    for k in range(n_acos):
                        r = plan["req"][i][k]
                        flags.append(
                            exp.Coalesce(this=exp.Not(this=r), expressions=[exp.false()])
                            if value == "false"
                            else is_null_(r)
                        )
                    if not flags:
                        continue
                    entry_col = f"r:{pname}:{i}:{value}"
                    if not plan["per_aco"][i]:  # the same value for every ACO: all of them or none
                        entries.append((entry_col, case_((flags[0], self.reason(pname, label, value, None)))))
                        failed_entries.append(col_(entry_col))
                        continue
                    count_col = f"n:{pname}:{i}:{value}"
                    counts.append((count_col, sum_([bool_int_(f) for f in flags])))
                    cnt = col_(count_col)
                    acos = case_(
                        (
                            exp.EQ(this=cnt, expression=exp.Literal.number(n_acos)),
                            exp.cast(exp.Null(), array_type(sql_type(STRING))),
                        ),
                        default=self.aco_list(flags),
                    )
                    entry = case_(
                        (
                            exp.GT(this=cnt.copy(), expression=exp.Literal.number(0)),
                            self.reason(pname, label, value, acos),
                        )
                    )
                    entries.append((entry_col, entry))
                    failed_entries.append(col_(entry_col))
            failed_entries.append(col_(f"t:{pname}"))
        if n_acos == 0:
            failed_entries = [self.reason("-", "market_has_acos", "false", None)]
        not_aligned = self.nonnull_list(failed_entries)
        reasons = case_(*aligned_cases, default=not_aligned) if aligned_cases else not_aligned
        winners = [col_(f"w:{p['name']}") for p in plans]
        aco_id = exp.Coalesce(this=winners[0], expressions=winners[1:]) if winners else exp.Null()
        outcome_whens: list[tuple[exp.Expr, exp.Expr]] = []
        pathway_whens: list[tuple[exp.Expr, exp.Expr]] = []
        cause_whens: list[tuple[exp.Expr, exp.Expr]] = []
        for plan, w in zip(plans, winners, strict=True):
            if plan["error"]:
                err = exp.Coalesce(this=col_(f"err:{plan['name']}"), expressions=[exp.false()])
                outcome_whens.append((err, exp.Literal.string("error")))
                pathway_whens.append((err, exp.cast(exp.Null(), sql_type(STRING))))
                cause_whens.append(
                    (err, exp.Literal.string(f"evaluation failed: unknown on_tie rule in pathway {plan['name']}"))
                )
            outcome_whens.append((not_null_(w), exp.Literal.string("aligned")))
            pathway_whens.append((not_null_(w), exp.Literal.string(plan["name"])))
            cause_whens.append((not_null_(w), exp.cast(exp.Null(), sql_type(STRING))))
        outcome = (
            case_(*outcome_whens, default=exp.Literal.string("not_aligned"))
            if outcome_whens
            else exp.Literal.string("not_aligned")
        )
        pathway = case_(*pathway_whens) if pathway_whens else exp.cast(exp.Null(), sql_type(STRING))
        out: list[exp.Expr] = [
            exp.column("bene_id", quoted=True),
            exp.alias_(outcome, "outcome", quoted=True),
            exp.alias_(
                case_((exp.EQ(this=p_(outcome), expression=exp.Literal.string("aligned")), aco_id)),
                "aco_id",
                quoted=True,
            ),
            exp.alias_(pathway, "pathway", quoted=True),
            exp.alias_(reasons, "reasons", quoted=True),
        ]
        if any(p["error"] for p in plans):
            out.append(exp.alias_(case_(*cause_whens), "cause", quoted=True))
        else:
            out.append(exp.alias_(exp.cast(exp.Null(), sql_type(STRING)), "cause", quoted=True))
        return counts, entries, out


